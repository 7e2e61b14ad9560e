// AXI4-Lite slave -> register bus of ptdma_regs (one access at a time).
//
// Write: AW and W are accepted independently (either order), then one reg_wr strobe and a
// B response. Read: AR accepted, one reg_rd strobe, the register block returns data one cycle
// later, then the R response. Reads and writes are serialised (a read waits for a pending
// write and vice versa), which is how a CPU's uncached MMIO accesses arrive anyway.
// Unmapped offsets read 0 and ignore writes with an OKAY response (UNMAPPED_SLVERR = 0, the
// Python model's register file does the same) or answer SLVERR (UNMAPPED_SLVERR = 1).
`timescale 1ns / 1ps
`default_nettype none
module ptdma_axil_slave #(
    parameter integer ADDR_W = 16,
    parameter integer UNMAPPED_SLVERR = 0
) (
    input  wire              clk,
    input  wire              rst,
    // AXI4-Lite slave
    input  wire [ADDR_W-1:0] s_axil_awaddr,
    input  wire [2:0]        s_axil_awprot,
    input  wire              s_axil_awvalid,
    output reg               s_axil_awready,
    input  wire [31:0]       s_axil_wdata,
    input  wire [3:0]        s_axil_wstrb,
    input  wire              s_axil_wvalid,
    output reg               s_axil_wready,
    output reg  [1:0]        s_axil_bresp,
    output reg               s_axil_bvalid,
    input  wire              s_axil_bready,
    input  wire [ADDR_W-1:0] s_axil_araddr,
    input  wire [2:0]        s_axil_arprot,
    input  wire              s_axil_arvalid,
    output reg               s_axil_arready,
    output reg  [31:0]       s_axil_rdata,
    output reg  [1:0]        s_axil_rresp,
    output reg               s_axil_rvalid,
    input  wire              s_axil_rready,
    // register bus
    output reg               reg_wr,
    output reg               reg_rd,
    output reg  [15:0]       reg_addr,
    output reg  [31:0]       reg_wdata,
    output reg  [3:0]        reg_wstrb,
    input  wire [31:0]       reg_rdata,
    input  wire              reg_hit
);
    localparam [2:0] S_IDLE = 3'd0, S_WR = 3'd1, S_WRESP = 3'd2, S_RD = 3'd3, S_RWAIT = 3'd4,
                     S_RRESP = 3'd5;
    reg [2:0] state;
    reg       have_aw, have_w;
    reg [15:0] aw_q;
    reg [31:0] w_q;
    reg [3:0]  ws_q;
    // Writes always answer OKAY (the register block ignores unmapped offsets); only reads
    // can report an unmapped offset, through reg_hit.
    wire unused_prot = ^{s_axil_awprot, s_axil_arprot};  // AxPROT is not checked

    always @(posedge clk) begin
        if (rst) begin
            state <= S_IDLE;
            have_aw <= 1'b0;
            have_w <= 1'b0;
            aw_q <= 16'd0;
            w_q <= 32'd0;
            ws_q <= 4'd0;
            s_axil_awready <= 1'b0;
            s_axil_wready <= 1'b0;
            s_axil_bvalid <= 1'b0;
            s_axil_bresp <= 2'b00;
            s_axil_arready <= 1'b0;
            s_axil_rvalid <= 1'b0;
            s_axil_rresp <= 2'b00;
            s_axil_rdata <= 32'd0;
            reg_wr <= 1'b0;
            reg_rd <= 1'b0;
            reg_addr <= 16'd0;
            reg_wdata <= 32'd0;
            reg_wstrb <= 4'd0;
        end else begin
            reg_wr <= 1'b0;
            reg_rd <= 1'b0;
            s_axil_awready <= 1'b0;
            s_axil_wready <= 1'b0;
            s_axil_arready <= 1'b0;
            case (state)
                S_IDLE: begin
                    // collect AW and W (a write in progress has priority over a new read)
                    if (s_axil_awvalid && !have_aw && !s_axil_awready) begin
                        s_axil_awready <= 1'b1;
                        have_aw <= 1'b1;
                        aw_q <= s_axil_awaddr[15:0];
                    end
                    if (s_axil_wvalid && !have_w && !s_axil_wready) begin
                        s_axil_wready <= 1'b1;
                        have_w <= 1'b1;
                        w_q <= s_axil_wdata;
                        ws_q <= s_axil_wstrb;
                    end
                    if (have_aw && have_w) begin
                        state <= S_WR;
                    end else if (!have_aw && !have_w && !s_axil_awvalid && !s_axil_wvalid
                                 && s_axil_arvalid && !s_axil_arready) begin
                        s_axil_arready <= 1'b1;
                        reg_addr <= s_axil_araddr[15:0];
                        state <= S_RD;
                    end
                end
                S_WR: begin
                    reg_wr <= 1'b1;
                    reg_addr <= aw_q;
                    reg_wdata <= w_q;
                    reg_wstrb <= ws_q;
                    have_aw <= 1'b0;
                    have_w <= 1'b0;
                    s_axil_bvalid <= 1'b1;
                    s_axil_bresp <= 2'b00;
                    state <= S_WRESP;
                end
                S_WRESP: begin
                    if (s_axil_bvalid && s_axil_bready) begin
                        s_axil_bvalid <= 1'b0;
                        state <= S_IDLE;
                    end
                end
                S_RD: begin
                    reg_rd <= 1'b1;
                    state <= S_RWAIT;
                end
                S_RWAIT: begin
                    // ptdma_regs registers its read data: it is valid now
                    state <= S_RRESP;
                end
                S_RRESP: begin
                    if (!s_axil_rvalid) begin
                        s_axil_rvalid <= 1'b1;
                        s_axil_rdata <= reg_rdata;
                        s_axil_rresp <= (UNMAPPED_SLVERR != 0 && !reg_hit) ? 2'b10 : 2'b00;
                    end else if (s_axil_rready) begin
                        s_axil_rvalid <= 1'b0;
                        state <= S_IDLE;
                    end
                end
                default: state <= S_IDLE;
            endcase
        end
    end
endmodule
`default_nettype wire
