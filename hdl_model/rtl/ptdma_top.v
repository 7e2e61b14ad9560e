// PTDMA twin top level: AXI4-Lite MMIO slave + one engine with its AXI4 master and irq.
//
// Ports follow cocotbext-axi naming (s_axil_* / m_axi_*) so the bench attaches
// AxiLiteMaster and the memory agent by prefix. Clock: one device clock (1 GHz in the bench,
// the Python model's timebase); reset: synchronous, active high.
`timescale 1ns / 1ps
`default_nettype none
module ptdma_top #(
    parameter integer DATA_W = 256,
    parameter integer ADDR_W = 64,
    parameter integer ID_W = 4,
    parameter integer RD_SLOTS = 32,
    parameter integer WR_SLOTS = 32,
    parameter integer MAX_RING_LOG2 = 8,
    parameter integer TIMEBASE_PS = 1000,
    parameter integer FETCH_EXTRA_CYCLES = 100,
    parameter integer DECODE_CYCLES = 20,
    parameter integer COMPLETION_CYCLES = 50,
    parameter integer GATE_IDLE_CYCLES = 50000,
    parameter integer UNGATE_CYCLES = 10900,
    parameter integer CAP_MBPC = 12500,
    parameter [47:0]  MEM_LIMIT = 48'h20_0000_0000,
    parameter [31:0]  MAX_XFER = 32'd0,
    parameter integer UNMAPPED_SLVERR = 0
) (
    input  wire              clk,
    input  wire              rst,
    // AXI4-Lite MMIO slave (16-bit offset inside the engine's 64 KiB window)
    input  wire [15:0]       s_axil_awaddr,
    input  wire [2:0]        s_axil_awprot,
    input  wire              s_axil_awvalid,
    output wire              s_axil_awready,
    input  wire [31:0]       s_axil_wdata,
    input  wire [3:0]        s_axil_wstrb,
    input  wire              s_axil_wvalid,
    output wire              s_axil_wready,
    output wire [1:0]        s_axil_bresp,
    output wire              s_axil_bvalid,
    input  wire              s_axil_bready,
    input  wire [15:0]       s_axil_araddr,
    input  wire [2:0]        s_axil_arprot,
    input  wire              s_axil_arvalid,
    output wire              s_axil_arready,
    output wire [31:0]       s_axil_rdata,
    output wire [1:0]        s_axil_rresp,
    output wire              s_axil_rvalid,
    input  wire              s_axil_rready,
    // AXI4 master (descriptor fetch, data, write-backs)
    output wire [ID_W-1:0]   m_axi_awid,
    output wire [ADDR_W-1:0] m_axi_awaddr,
    output wire [7:0]        m_axi_awlen,
    output wire [2:0]        m_axi_awsize,
    output wire [1:0]        m_axi_awburst,
    output wire              m_axi_awlock,
    output wire [3:0]        m_axi_awcache,
    output wire [2:0]        m_axi_awprot,
    output wire              m_axi_awvalid,
    input  wire              m_axi_awready,
    output wire [DATA_W-1:0] m_axi_wdata,
    output wire [DATA_W/8-1:0] m_axi_wstrb,
    output wire              m_axi_wlast,
    output wire              m_axi_wvalid,
    input  wire              m_axi_wready,
    input  wire [ID_W-1:0]   m_axi_bid,
    input  wire [1:0]        m_axi_bresp,
    input  wire              m_axi_bvalid,
    output wire              m_axi_bready,
    output wire [ID_W-1:0]   m_axi_arid,
    output wire [ADDR_W-1:0] m_axi_araddr,
    output wire [7:0]        m_axi_arlen,
    output wire [2:0]        m_axi_arsize,
    output wire [1:0]        m_axi_arburst,
    output wire              m_axi_arlock,
    output wire [3:0]        m_axi_arcache,
    output wire [2:0]        m_axi_arprot,
    output wire              m_axi_arvalid,
    input  wire              m_axi_arready,
    input  wire [ID_W-1:0]   m_axi_rid,
    input  wire [DATA_W-1:0] m_axi_rdata,
    input  wire [1:0]        m_axi_rresp,
    input  wire              m_axi_rlast,
    input  wire              m_axi_rvalid,
    output wire              m_axi_rready,
    // interrupt level
    output wire              irq
);
    wire        reg_wr, reg_rd, reg_hit;
    wire [15:0] reg_addr;
    wire [31:0] reg_wdata, reg_rdata;
    wire [3:0]  reg_wstrb;

    ptdma_axil_slave #(.ADDR_W(16), .UNMAPPED_SLVERR(UNMAPPED_SLVERR)) axil (
        .clk(clk), .rst(rst),
        .s_axil_awaddr(s_axil_awaddr), .s_axil_awprot(s_axil_awprot),
        .s_axil_awvalid(s_axil_awvalid), .s_axil_awready(s_axil_awready),
        .s_axil_wdata(s_axil_wdata), .s_axil_wstrb(s_axil_wstrb),
        .s_axil_wvalid(s_axil_wvalid), .s_axil_wready(s_axil_wready),
        .s_axil_bresp(s_axil_bresp), .s_axil_bvalid(s_axil_bvalid),
        .s_axil_bready(s_axil_bready),
        .s_axil_araddr(s_axil_araddr), .s_axil_arprot(s_axil_arprot),
        .s_axil_arvalid(s_axil_arvalid), .s_axil_arready(s_axil_arready),
        .s_axil_rdata(s_axil_rdata), .s_axil_rresp(s_axil_rresp),
        .s_axil_rvalid(s_axil_rvalid), .s_axil_rready(s_axil_rready),
        .reg_wr(reg_wr), .reg_rd(reg_rd), .reg_addr(reg_addr), .reg_wdata(reg_wdata),
        .reg_wstrb(reg_wstrb), .reg_rdata(reg_rdata), .reg_hit(reg_hit)
    );

    ptdma_engine #(
        .DATA_W(DATA_W), .ADDR_W(ADDR_W), .ID_W(ID_W), .RD_SLOTS(RD_SLOTS),
        .WR_SLOTS(WR_SLOTS), .MAX_RING_LOG2(MAX_RING_LOG2), .TIMEBASE_PS(TIMEBASE_PS),
        .FETCH_EXTRA_CYCLES(FETCH_EXTRA_CYCLES), .DECODE_CYCLES(DECODE_CYCLES),
        .COMPLETION_CYCLES(COMPLETION_CYCLES), .GATE_IDLE_CYCLES(GATE_IDLE_CYCLES),
        .UNGATE_CYCLES(UNGATE_CYCLES), .CAP_MBPC(CAP_MBPC), .MEM_LIMIT(MEM_LIMIT),
        .MAX_XFER(MAX_XFER)
    ) engine (
        .clk(clk), .rst(rst),
        .reg_wr(reg_wr), .reg_rd(reg_rd), .reg_addr(reg_addr), .reg_wdata(reg_wdata),
        .reg_wstrb(reg_wstrb), .reg_rdata(reg_rdata), .reg_hit(reg_hit),
        .m_axi_awid(m_axi_awid), .m_axi_awaddr(m_axi_awaddr), .m_axi_awlen(m_axi_awlen),
        .m_axi_awsize(m_axi_awsize), .m_axi_awburst(m_axi_awburst),
        .m_axi_awlock(m_axi_awlock), .m_axi_awcache(m_axi_awcache),
        .m_axi_awprot(m_axi_awprot), .m_axi_awvalid(m_axi_awvalid),
        .m_axi_awready(m_axi_awready),
        .m_axi_wdata(m_axi_wdata), .m_axi_wstrb(m_axi_wstrb), .m_axi_wlast(m_axi_wlast),
        .m_axi_wvalid(m_axi_wvalid), .m_axi_wready(m_axi_wready),
        .m_axi_bid(m_axi_bid), .m_axi_bresp(m_axi_bresp), .m_axi_bvalid(m_axi_bvalid),
        .m_axi_bready(m_axi_bready),
        .m_axi_arid(m_axi_arid), .m_axi_araddr(m_axi_araddr), .m_axi_arlen(m_axi_arlen),
        .m_axi_arsize(m_axi_arsize), .m_axi_arburst(m_axi_arburst),
        .m_axi_arlock(m_axi_arlock), .m_axi_arcache(m_axi_arcache),
        .m_axi_arprot(m_axi_arprot), .m_axi_arvalid(m_axi_arvalid),
        .m_axi_arready(m_axi_arready),
        .m_axi_rid(m_axi_rid), .m_axi_rdata(m_axi_rdata), .m_axi_rresp(m_axi_rresp),
        .m_axi_rlast(m_axi_rlast), .m_axi_rvalid(m_axi_rvalid), .m_axi_rready(m_axi_rready),
        .irq(irq)
    );

endmodule
`default_nettype wire
