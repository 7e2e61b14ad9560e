"""Files generated from hdl_model/ptdma.rdl by hdl_model.regmap_gen (do not edit)."""
