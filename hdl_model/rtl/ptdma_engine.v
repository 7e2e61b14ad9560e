// PTDMA engine (one queue): register block, descriptor ring control and AXI4 datapath.
//
// Specification: ../shared/reference/ptdma-model.md §3-§6 (the same contract as the Python
// model hdl_model/ptdma.py). The register block is GENERATED (ptdma_regs.v, from ptdma.rdl by
// hdl_model/rtl_gen.py); descriptor field positions, register offsets and error codes come from
// the generated ptdma_defs.vh. This module owns the state the hardware changes: RUN, HALTED,
// HEAD_LO, Q_STATUS, ERR_INFO, the error address capture, coalescing and PERF counters.
//
// Per descriptor (§6): fetch 32 B at {BASE_HI, HEAD_LO} (one AXI read burst), wait
// FETCH_EXTRA_CYCLES, decode for DECODE_CYCLES and validate (§5 order), stream the copy, wait
// for every write response, COMPLETION_CYCLES of completion processing, DESC_WB, CMPL_WB,
// then HEAD += 32 (wrap by masking), counters and status. One descriptor is in flight.
//
// Datapath: source reads are 64 B-line bursts (INCR, full-width beats, never crossing a line,
// hence never a 4 KiB page), at most RD_SLOTS lines outstanding and at most RD_SLOTS x 64 B of
// read data buffered (space is reserved when the AR is issued, so RREADY stays high); a token
// bucket of CAP_MBPC milli-bytes per cycle throttles AR issue (the per-engine streaming cap).
// A realigning shifter combines two source beats per destination beat; destination writes are
// 64 B-line bursts with WSTRB for the partial first/last beats. A destination line's AW is
// issued only when all of its source data is buffered, so after a read error no line that
// needs the failing data is written (nothing past the first failing line). At most WR_SLOTS
// write lines await their B response.
// Errors (validation, AXI RRESP/BRESP, CMD_TIMEOUT) and ABORT stop issuing, drain what is in
// flight, then complete the descriptor with its status.
//
// Extensions implemented: DESC_WB, CMPL_WB, COAL (count, timer, flush on empty, errors bypass),
// STOP_ON_ERROR (both settings), ZERO_LEN_NOP, STRICT_RESERVED (reserved descriptor bits;
// overlap is not flagged), CMD_TIMEOUT, every PERF counter, ERR_INFO with both software
// violation flags. Not implemented: OOO_COMPLETE (the twin always completes in order; the bit
// is stored and reads back).
`timescale 1ns / 1ps
`default_nettype none
module ptdma_engine #(
    parameter integer DATA_W = 256,          // AXI data width: 64, 128, 256 or 512
    parameter integer ADDR_W = 64,           // AXI address width (descriptors carry 48 bits)
    parameter integer ID_W = 4,
    parameter integer RD_SLOTS = 32,         // outstanding 64 B read lines (EXT_CAPS.RD_SLOTS)
    parameter integer WR_SLOTS = 32,         // write lines awaiting B
    parameter integer MAX_RING_LOG2 = 8,     // largest ring: 2^MAX_RING_LOG2 entries
    parameter integer TIMEBASE_PS = 1000,    // EXT_TIMEBASE: 1 GHz device clock
    parameter integer FETCH_EXTRA_CYCLES = 100,  // desc_fetch_extra_ns at 1 GHz (preset.dma)
    parameter integer DECODE_CYCLES = 20,        // preset.dma.decode_cycles
    parameter integer COMPLETION_CYCLES = 50,    // preset.dma.completion_cycles
    parameter integer GATE_IDLE_CYCLES = 50000,  // preset.dma.clock_gate_idle_ns at 1 GHz
    parameter integer UNGATE_CYCLES = 10900,     // preset.dma.clock_ungate_ns at 1 GHz
    parameter integer CAP_MBPC = 12500,      // streaming cap, milli-bytes/cycle (12.5 GB/s @1 GHz); 0 = off
    parameter [47:0]  MEM_LIMIT = 48'h20_0000_0000,  // end of system RAM (ILLEGAL_MEM_ADDR above)
    parameter [31:0]  MAX_XFER = 32'd0       // optional LENGTH cap (0 = none)
) (
    input  wire              clk,
    input  wire              rst,
    // register bus (from ptdma_axil_slave)
    input  wire              reg_wr,
    input  wire              reg_rd,
    input  wire [15:0]       reg_addr,
    input  wire [31:0]       reg_wdata,
    input  wire [3:0]        reg_wstrb,
    output wire [31:0]       reg_rdata,
    output wire              reg_hit,
    // AXI4 master
    output wire [ID_W-1:0]   m_axi_awid,
    output reg  [ADDR_W-1:0] m_axi_awaddr,
    output reg  [7:0]        m_axi_awlen,
    output wire [2:0]        m_axi_awsize,
    output wire [1:0]        m_axi_awburst,
    output wire              m_axi_awlock,
    output wire [3:0]        m_axi_awcache,
    output wire [2:0]        m_axi_awprot,
    output reg               m_axi_awvalid,
    input  wire              m_axi_awready,
    output reg  [DATA_W-1:0] m_axi_wdata,
    output reg  [DATA_W/8-1:0] m_axi_wstrb,
    output reg               m_axi_wlast,
    output reg               m_axi_wvalid,
    input  wire              m_axi_wready,
    input  wire [ID_W-1:0]   m_axi_bid,
    input  wire [1:0]        m_axi_bresp,
    input  wire              m_axi_bvalid,
    output wire              m_axi_bready,
    output wire [ID_W-1:0]   m_axi_arid,
    output reg  [ADDR_W-1:0] m_axi_araddr,
    output reg  [7:0]        m_axi_arlen,
    output wire [2:0]        m_axi_arsize,
    output wire [1:0]        m_axi_arburst,
    output wire              m_axi_arlock,
    output wire [3:0]        m_axi_arcache,
    output wire [2:0]        m_axi_arprot,
    output reg               m_axi_arvalid,
    input  wire              m_axi_arready,
    input  wire [ID_W-1:0]   m_axi_rid,
    input  wire [DATA_W-1:0] m_axi_rdata,
    input  wire [1:0]        m_axi_rresp,
    input  wire              m_axi_rlast,
    input  wire              m_axi_rvalid,
    output wire              m_axi_rready,
    // interrupt: OR(INT_STATUS & INT_ENABLE) & ~IRQ_MASK (level; the bench makes MSIs of edges)
    output wire              irq
);
`include "ptdma_defs.vh"

    // ------------------------------------------------------------------ geometry
    localparam integer B = DATA_W / 8;            // bytes per beat
    localparam integer LB = $clog2(B);            // log2 bytes per beat
    localparam integer LINE = 64;                 // read/write line (ptdma-model §6)
    localparam integer BPL = (B >= LINE) ? 1 : LINE / B;  // beats per line
    localparam integer FIFO_BEATS = RD_SLOTS * BPL;
    localparam integer FA = $clog2(FIFO_BEATS);    // FIFO address bits
    localparam integer RSW = $clog2(RD_SLOTS + 1); // slot counter width
    localparam integer WSW = $clog2(WR_SLOTS + 1);
    localparam integer DESC_BEATS = (B >= 32) ? 1 : 32 / B;
    localparam [LB:0] BL = (LB+1)'(B);            // B in the shift amount's width
    localparam [31:0] TOK_MAX = 2 * 64 * 1000;     // bucket depth: two lines (no token lost
                                                   // while a full line waits for AR)
    localparam [47:0] B48 = 48'(B);
    localparam [47:0] BEAT_MASK = ~(B48 - 48'd1);   // clears the byte-in-beat bits

    // ------------------------------------------------------------------ register block
    wire [31:0] wdata, wmask;
    wire [1:0]  r_prio;
    wire [31:0] r_reqid, r_timeout;
    wire        r_irq_mask;
    wire        r_mem_location;
    wire [4:0]  r_q_size;
    wire [15:0] r_base_hi;
    wire        w_control, w_tail, w_head, w_int_status;
    wire [31:0] r_tail;
    wire        r_ie_cmpl, r_ie_err, r_ie_stop, r_ie_empty;
    wire        r_is_cmpl, r_is_err, r_is_stop, r_is_empty;
    wire        abort_wr;
    wire [3:0]  r_arcache, r_awcache;
    wire [2:0]  r_arprot, r_awprot;
    wire        r_vhb_en;
    wire [15:0] r_coal_count;
    wire [23:0] r_coal_timer;
    wire        rd_coal_pending;
    wire        r_cmpl_wb_en, r_desc_wb_en, r_coal_en, r_stop_on_error, r_zero_len_nop;
    wire        r_strict, r_ooo;
    wire [31:0] r_cmpl_lo, r_cmpl_hi;
    wire        r_perf_freeze, perf_reset_wr;
    wire        r_gate_mode, r_gate_delay;

    reg         run, halted;
    reg  [31:0] head;
    reg  [5:0]  err_latch;
    reg  [15:0] desc_completed;
    reg  [15:0] coal_pending;
    reg  [1:0]  rd_last_resp, wr_last_resp;
    reg  [29:0] rd_err_count, wr_err_count;
    reg  [5:0]  ei_code;
    reg  [1:0]  ei_side;
    reg  [7:0]  ei_index, ei_count;
    reg         ei_tail_overrun, ei_head_write;
    reg  [47:0] err_desc_addr, err_data_addr;
    reg  [63:0] pc_desc_done, pc_bytes_read, pc_bytes_written, pc_busy, pc_fetch, pc_rd_lat;
    reg  [63:0] pc_rd_reqs, pc_irqs, pc_doorbells, pc_stall;
    reg         set_cmpl, set_err, set_stop, set_empty;
    wire        busy;
    reg  [RSW-1:0] rd_lines_out;
    reg  [WSW-1:0] wr_lines_out;
    wire        irq_line;
    wire [31:0] rd_out32 = {{(32-RSW){1'b0}}, rd_lines_out};
    wire [31:0] wr_out32 = {{(32-WSW){1'b0}}, wr_lines_out};
    wire [7:0]  rd_out8 = (rd_out32 > 32'd255) ? 8'hFF : rd_out32[7:0];
    wire [7:0]  wr_out8 = (wr_out32 > 32'd255) ? 8'hFF : wr_out32[7:0];

    ptdma_regs #(
        .RD_SLOTS(RD_SLOTS), .MAX_RING_LOG2(MAX_RING_LOG2), .TIMEBASE_PS(TIMEBASE_PS)
    ) regs (
        .clk(clk), .rst(rst),
        .reg_wr(reg_wr), .reg_rd(reg_rd), .reg_addr(reg_addr), .reg_wdata(reg_wdata),
        .reg_wstrb(reg_wstrb), .reg_rdata(reg_rdata), .reg_hit(reg_hit),
        .o_wdata(wdata), .o_wmask(wmask),
        .o_queue_prio_prio(r_prio),
        .o_reqid_config_reqid(r_reqid),
        .o_cmd_timeout_cycles(r_timeout),
        .o_irq_mask_q0_mask(r_irq_mask),
        .i_irq_status_q0_pending(irq_line),
        .i_q_control_run(run), .i_q_control_halted(halted),
        .o_q_control_mem_location(r_mem_location), .o_q_control_q_size(r_q_size),
        .o_q_control_base_hi(r_base_hi), .o_q_control_swwr(w_control),
        .o_q_tail_lo_tail_lo(r_tail), .o_q_tail_lo_swwr(w_tail),
        .i_q_head_lo_head_lo(head), .o_q_head_lo_swwr(w_head),
        .o_q_int_enable_completion(r_ie_cmpl), .o_q_int_enable_error(r_ie_err),
        .o_q_int_enable_queue_stopped(r_ie_stop), .o_q_int_enable_empty_queue(r_ie_empty),
        .o_q_interrupt_status_completion(r_is_cmpl),
        .i_q_interrupt_status_completion_hwset(set_cmpl),
        .o_q_interrupt_status_error(r_is_err), .i_q_interrupt_status_error_hwset(set_err),
        .o_q_interrupt_status_queue_stopped(r_is_stop),
        .i_q_interrupt_status_queue_stopped_hwset(set_stop),
        .o_q_interrupt_status_empty_queue(r_is_empty),
        .i_q_interrupt_status_empty_queue_hwset(set_empty),
        .o_q_interrupt_status_swwr(w_int_status),
        .i_q_status_err_code(err_latch), .i_q_status_busy(busy),
        .i_q_status_empty(head == r_tail), .i_q_status_halted(halted),
        .i_q_status_desc_completed(desc_completed),
        .i_q_int_status_completion(int_raw[0]), .i_q_int_status_error(int_raw[1]),
        .i_q_int_status_queue_stopped(int_raw[2]), .i_q_int_status_empty_queue(int_raw[3]),
        .i_q_dma_status_rd_outstanding(rd_out8),
        .i_q_dma_status_wr_outstanding(wr_out8),
        .i_q_dma_status_rd_busy(rd_lines_out != 0), .i_q_dma_status_wr_busy(wr_lines_out != 0),
        .i_q_dma_read_status_last_resp(rd_last_resp), .i_q_dma_read_status_err_count(rd_err_count),
        .i_q_dma_write_status_last_resp(wr_last_resp),
        .i_q_dma_write_status_err_count(wr_err_count),
        .o_q_abort_abort_wr(abort_wr),
        .o_q_ax_cache_arcache(r_arcache), .o_q_ax_cache_awcache(r_awcache),
        .o_q_ax_cache_arprot(r_arprot), .o_q_ax_cache_awprot(r_awprot),
        .o_config_vhb_en(r_vhb_en),
        .o_q_coal_count_count(r_coal_count),
        .o_q_coal_timer_cycles(r_coal_timer),
        .i_q_coal_pending_pending(coal_pending), .o_q_coal_pending_swrd(rd_coal_pending),
        .o_q_ext_ctrl_cmpl_wb_en(r_cmpl_wb_en), .o_q_ext_ctrl_desc_wb_en(r_desc_wb_en),
        .o_q_ext_ctrl_coal_en(r_coal_en), .o_q_ext_ctrl_stop_on_error(r_stop_on_error),
        .o_q_ext_ctrl_zero_len_nop(r_zero_len_nop), .o_q_ext_ctrl_strict_reserved(r_strict),
        .o_q_ext_ctrl_ooo_complete(r_ooo),
        .o_q_cmpl_wb_lo_addr_lo(r_cmpl_lo),
        .o_q_cmpl_wb_hi_addr_hi(r_cmpl_hi),
        .i_q_err_info_code(ei_code), .i_q_err_info_side(ei_side),
        .i_q_err_info_ring_index(ei_index), .i_q_err_info_err_count(ei_count),
        .i_q_err_info_sw_tail_overrun(ei_tail_overrun), .i_q_err_info_sw_head_write(ei_head_write),
        .i_q_err_desc_addr_lo_value(err_desc_addr[31:0]),
        .i_q_err_desc_addr_hi_value({16'd0, err_desc_addr[47:32]}),
        .i_q_err_data_addr_lo_value(err_data_addr[31:0]),
        .i_q_err_data_addr_hi_value({16'd0, err_data_addr[47:32]}),
        .i_q_perf_desc_done_lo_count(pc_desc_done[31:0]),
        .i_q_perf_desc_done_hi_count(pc_desc_done[63:32]),
        .i_q_perf_bytes_read_lo_count(pc_bytes_read[31:0]),
        .i_q_perf_bytes_read_hi_count(pc_bytes_read[63:32]),
        .i_q_perf_bytes_written_lo_count(pc_bytes_written[31:0]),
        .i_q_perf_bytes_written_hi_count(pc_bytes_written[63:32]),
        .i_q_perf_busy_cycles_lo_count(pc_busy[31:0]),
        .i_q_perf_busy_cycles_hi_count(pc_busy[63:32]),
        .i_q_perf_desc_fetch_cycles_lo_count(pc_fetch[31:0]),
        .i_q_perf_desc_fetch_cycles_hi_count(pc_fetch[63:32]),
        .i_q_perf_rd_lat_sum_cycles_lo_count(pc_rd_lat[31:0]),
        .i_q_perf_rd_lat_sum_cycles_hi_count(pc_rd_lat[63:32]),
        .i_q_perf_rd_reqs_lo_count(pc_rd_reqs[31:0]),
        .i_q_perf_rd_reqs_hi_count(pc_rd_reqs[63:32]),
        .i_q_perf_irqs_raised_lo_count(pc_irqs[31:0]),
        .i_q_perf_irqs_raised_hi_count(pc_irqs[63:32]),
        .i_q_perf_doorbells_lo_count(pc_doorbells[31:0]),
        .i_q_perf_doorbells_hi_count(pc_doorbells[63:32]),
        .i_q_perf_stall_no_credit_cycles_lo_count(pc_stall[31:0]),
        .i_q_perf_stall_no_credit_cycles_hi_count(pc_stall[63:32]),
        .o_q_perf_ctrl_freeze(r_perf_freeze), .o_q_perf_ctrl_reset_wr(perf_reset_wr),
        .o_clk_gate_ctl_hw_gate_mode(r_gate_mode), .o_clk_gate_ctl_gate_delay(r_gate_delay)
    );

    // stored-only registers: no behaviour in the twin
    wire unused_stored = ^{r_prio, r_reqid, r_mem_location, r_vhb_en, r_ooo,
                           r_gate_delay, m_axi_bid, m_axi_rid};

    // ------------------------------------------------------------------ AXI constants
    assign m_axi_awid = {ID_W{1'b0}};
    assign m_axi_arid = {ID_W{1'b0}};
    assign m_axi_awsize = LB[2:0];
    assign m_axi_arsize = LB[2:0];
    assign m_axi_awburst = 2'b01;  // INCR
    assign m_axi_arburst = 2'b01;
    assign m_axi_awlock = 1'b0;
    assign m_axi_arlock = 1'b0;
    assign m_axi_awcache = r_awcache;
    assign m_axi_arcache = r_arcache;
    assign m_axi_awprot = r_awprot;
    assign m_axi_arprot = r_arprot;
    assign m_axi_bready = 1'b1;
    assign m_axi_rready = 1'b1;  // read space is reserved when the AR is issued

    // ------------------------------------------------------------------ ring geometry
    // N = 2^(Q_SIZE+1) entries of 32 B, capped at 2^MAX_RING_LOG2; base by masking (§3)
    wire [4:0]  ring_log2 = (r_q_size + 5'd1 > MAX_RING_LOG2[4:0]) ? MAX_RING_LOG2[4:0]
                                                                   : r_q_size + 5'd1;
    wire [31:0] ring_mask = (32'd32 << ring_log2) - 32'd1;
    function [31:0] ring_next;
        input [31:0] a;
        input [31:0] m;
        begin
            ring_next = (a & ~m) | ((a + 32'd32) & m);
        end
    endfunction
    wire [31:0] head_index32 = (head & ring_mask) >> 5;

    // ------------------------------------------------------------------ control FSM
    localparam [3:0] S_IDLE = 4'd0, S_FETCH = 4'd1, S_FWAIT = 4'd2, S_FEXTRA = 4'd3,
                     S_DECODE = 4'd4, S_XFER = 4'd5, S_CWAIT = 4'd6, S_DWB = 4'd7,
                     S_CWB = 4'd8, S_WBWAIT = 4'd9, S_DONE = 4'd10, S_UNGATE = 4'd11;
    reg [3:0]   state;
    reg [31:0]  idle_cycles;  // since the last settle (dynamic clock gating, CLK_GATE_CTL[0])
    reg [31:0]  cnt;          // countdown of the fixed-latency states
    reg [47:0]  desc_addr;
    localparam integer DBW = (DATA_W > 256) ? DATA_W : 256;
    reg [DBW-1:0] desc_raw;   // fetched beats
    wire [255:0] desc = desc_raw[255:0];  // the 32 B descriptor, dword i at [32i+31:32i]
    // byte lane of the descriptor in a beat wider than 32 B (0 or 32 on a 512-bit bus)
    wire [LB-1:0] desc_lane = (B >= 64) ? (desc_addr[LB-1:0] & LB'(32)) : {LB{1'b0}};
    generate
        if (DBW > 256) begin : g_wide_desc
            wire unused_desc_hi = ^desc_raw[DBW-1:256];  // a 512-bit beat holds 64 B
        end
    endgenerate
    reg [$clog2(DESC_BEATS+1)-1:0] fbeats;
    reg [31:0]  run_cycles;   // cycles since the descriptor's fetch started (CMD_TIMEOUT)
    reg         fail;         // descriptor failed (code in fail_code)
    reg [5:0]   fail_code;
    reg [1:0]   fail_side;
    reg [47:0]  fail_data_addr;
    reg         aborting;     // ABORT received for the current descriptor
    reg         abort_pending;
    reg         wb_is_cmpl;   // write-back in flight is the completion record
    reg [63:0]  bytes_done;   // bytes completed (CMPL_WB record +8)
    assign busy = (state != S_IDLE);

    wire [31:0] dw0 = desc[31:0];
    wire [31:0] dw1 = desc[63:32];
    wire [31:0] dw2 = desc[95:64];
    wire [31:0] dw3 = desc[127:96];
    wire [31:0] dw4 = desc[159:128];
    wire [31:0] dw5 = desc[191:160];
    wire [31:0] dw6 = desc[223:192];
    wire [31:0] dw7 = desc[255:224];
    wire        d_soc = dw0[DESC_DW0_SOC_LSB];
    wire        d_ioc = dw0[DESC_DW0_IOC_LSB];
    wire [14:0] d_function = dw0[DESC_DW0_FUNCTION_MSB:DESC_DW0_FUNCTION_LSB];
    wire [3:0]  d_engine = dw0[DESC_DW0_ENGINE_MSB:DESC_DW0_ENGINE_LSB];
    wire [31:0] d_len = dw1[DESC_DW1_LENGTH_MSB:DESC_DW1_LENGTH_LSB];
    wire [47:0] d_src = {dw3[DESC_DW3_SRC_HI_MSB:DESC_DW3_SRC_HI_LSB],
                         dw2[DESC_DW2_SRC_LO_MSB:DESC_DW2_SRC_LO_LSB]};
    wire [47:0] d_dst = {dw5[DESC_DW5_DST_HI_MSB:DESC_DW5_DST_HI_LSB],
                         dw4[DESC_DW4_DST_LO_MSB:DESC_DW4_DST_LO_LSB]};
    wire [1:0]  d_src_mem = dw3[DESC_DW3_SRC_MEM_MSB:DESC_DW3_SRC_MEM_LSB];
    wire [1:0]  d_dst_mem = dw5[DESC_DW5_DST_MEM_MSB:DESC_DW5_DST_MEM_LSB];
    wire [48:0] src_end49 = {1'b0, d_src} + {17'd0, d_len};
    wire [48:0] dst_end49 = {1'b0, d_dst} + {17'd0, d_len};
    wire        d_rsvd = dw0[DESC_DW0_RSVD0_LSB]
                       | (|dw0[DESC_DW0_RSVD1_MSB:DESC_DW0_RSVD1_LSB])
                       | (|dw3[DESC_DW3_RSVD_MSB:DESC_DW3_RSVD_LSB])
                       | (|dw5[DESC_DW5_RSVD_MSB:DESC_DW5_RSVD_LSB])
                       | (|dw6) | (|dw7)
                       | (d_len != 32'd0 && {1'b0, d_src} < dst_end49 && {1'b0, d_dst} < src_end49);
    // not checked by the twin: FIXED, LSB_CTX_ID (the model ignores them too), address bits
    // below the 16 B completion-record alignment, upper ring-index bits, shifter spill
    wire unused_desc = ^{r_cmpl_hi[31:16], r_cmpl_lo[3:0], dw3[31], dw3[25:18], dw5[31]};

    // §5 validation, first failing check wins
    // ILLEGAL_MEM_ADDR: the source is checked before the destination (side READ / WRITE)
    wire      src_bad = src_end49 > {1'b0, MEM_LIMIT};
    wire [1:0]  v_side = (v_code == ERR_ILLEGAL_MEM_ADDR[5:0])
                         ? (src_bad ? SIDE_READ[1:0] : SIDE_WRITE[1:0]) : SIDE_DESCRIPTOR[1:0];
    wire [47:0] v_addr = (v_code == ERR_ILLEGAL_MEM_ADDR[5:0]) ? (src_bad ? d_src : d_dst) : 48'd0;
    reg [5:0] v_code;
    always @(*) begin
        v_code = 6'd0;
        if (d_engine != 4'd5) v_code = ERR_ILLEGAL_ENGINE[5:0];
        else if (d_function != 15'd0) v_code = ERR_ILLEGAL_FUNCTION_TYPE[5:0];
        else if (r_strict && d_rsvd) v_code = ERR_ILLEGAL_FUNCTION_RSVD[5:0];
        else if ((d_len == 32'd0 && !r_zero_len_nop) || (MAX_XFER != 32'd0 && d_len > MAX_XFER))
            v_code = ERR_ILLEGAL_BUFFER_LENGTH[5:0];
        else if (d_len != 32'd0 && (src_end49 > {1'b0, MEM_LIMIT} || dst_end49 > {1'b0, MEM_LIMIT}))
            v_code = ERR_ILLEGAL_MEM_ADDR[5:0];
        else if (d_src_mem != 2'd0 || d_dst_mem != 2'd0) v_code = ERR_ILLEGAL_MEM_SEL[5:0];
    end

    // the settled descriptor's outcome (§6 completion contract, model _settle)
    reg         abort_nowb;   // aborted before decode: no write-backs
    reg  [15:0] wb_seq;       // descriptors settled (DESC_WB sequence)
    reg  [3:0]  int_raw;      // Q_INT_STATUS: raw events (COMPLETION also when folded)
    wire        o_ok = !fail && !aborting;
    wire        o_halts = (!o_ok && (r_stop_on_error || aborting)) || (o_ok && d_soc);
    wire [31:0] o_new_head = (o_ok || (!aborting && !r_stop_on_error)) ? ring_next(head, ring_mask)
                                                                      : head;
    wire [5:0]  o_code = aborting ? 6'd0 : fail_code;
    wire [7:0]  o_wbst = o_ok ? WBST_COMPLETED : (aborting ? WBST_ABORTED : WBST_ERROR);
    wire [7:0]  o_cmpl_st = o_halts ? 8'd3 : (o_ok ? 8'd1 : 8'd2);
    wire [15:0] o_done_cnt = desc_completed + (o_ok ? 16'd1 : 16'd0);
    wire [63:0] o_bytes = bytes_done + (o_ok ? {32'd0, d_len} : 64'd0);
    wire        abort_now = abort_wr || abort_pending;

    // ------------------------------------------------------------------ datapath state
    reg         xfer_go;      // pulse: start the datapath on the decoded descriptor
    reg         x_active;     // datapath running
    reg         x_stop;       // stop issuing (error, timeout, abort)
    reg  [47:0] x_src, x_dst;
    reg  [48:0] x_src_end, x_dst_end;
    reg  [47:0] rd_ptr;       // next read beat address (beat aligned)
    reg  [47:0] rd_last;      // last read beat address
    reg         rd_done;      // every AR issued
    reg  [31:0] ns_total;     // source beats
    reg  [31:0] src_rcvd;     // source beats received (good, before any error)
    reg         rd_err_seen;
    reg  [47:0] wr_ptr;       // next write line start (beat aligned)
    reg  [47:0] wr_last;      // last write beat address
    reg         wr_done;      // every AW issued
    reg  [31:0] aw_beat_idx;  // destination beat index of the next AW line
    reg  [31:0] w_beat_idx;   // destination beat index of the next W beat
    reg  [31:0] src_pops;
    reg         lag;
    reg  [LB:0] shift_d;      // realignment shift in bytes (0..B-1)
    reg         preloaded;
    reg  [DATA_W-1:0] lo_beat;
    reg  [RSW+8:0] beats_reserved;  // FIFO beats reserved by issued ARs and not yet popped
    reg  [31:0] tokens;
    reg  [2:0]  aw_ahead;     // AW lines whose W beats are not all sent
    reg  [8:0]  w_line_left;  // beats left in the W line being sent
    reg  [8:0]  wq_len [0:7]; // beats per AW line, in AW order (W follows)
    reg  [2:0]  wq_wr, wq_rd;
    reg         wr_err_seen;
    // start address of every write line awaiting B (B returns in AW order: one ID)
    localparam integer BAW = $clog2(WR_SLOTS);
    reg  [47:0] ba_fifo [0:(1 << BAW) - 1];
    reg  [BAW-1:0] ba_wr, ba_rd;

    // read data FIFO
    reg  [DATA_W-1:0] fifo [0:(1 << FA) - 1];  // power-of-two storage, FIFO_BEATS used
    reg  [FA:0]  f_wr, f_rd;
    wire [DATA_W-1:0] f_head = fifo[f_rd[FA-1:0]];
    // read-latency timestamps (PERF RD_LAT_SUM_CYCLES), one per outstanding line
    reg  [31:0] ts_fifo [0:RD_SLOTS-1];
    localparam integer TSW = (RD_SLOTS > 1) ? $clog2(RD_SLOTS) : 1;
    reg  [TSW-1:0] ts_wr, ts_rd;
    reg  [31:0] cycle;

    // ------------------------------------------------------------------ AR issue (datapath)
    // The next read burst: from rd_ptr to the end of its 64 B line or the last beat.
    wire [47:0] rd_line_end = (rd_ptr | 48'd63) + 48'd1;
    wire [47:0] rd_burst_end = (rd_line_end <= rd_last) ? rd_line_end : rd_last + B48;
    wire [8:0]  rd_beats = 9'((rd_burst_end - rd_ptr) >> LB);
    wire [47:0] rd_line_start = rd_ptr & ~48'd63;
    wire [48:0] rd_use_hi = ({1'b0, rd_line_end} < x_src_end) ? {1'b0, rd_line_end} : x_src_end;
    wire [47:0] rd_use_lo = (rd_line_start > x_src) ? rd_line_start : x_src;
    wire [31:0] rd_cost = 32'(rd_use_hi - {1'b0, rd_use_lo});  // useful bytes of this line
    wire        rd_slot_ok = (rd_lines_out < RD_SLOTS[RSW-1:0])
                          && (32'(beats_reserved) + 32'(rd_beats) <= FIFO_BEATS);
    wire        rd_tok_ok = (CAP_MBPC == 0) || (tokens >= rd_cost * 32'd1000);
    wire        ar_free = !m_axi_arvalid || m_axi_arready;
    wire        rd_want = x_active && !x_stop && !rd_done;
    wire        rd_issue = rd_want && ar_free && rd_slot_ok && rd_tok_ok;

    // ------------------------------------------------------------------ AW issue (datapath)
    wire [47:0] wr_line_end = (wr_ptr | 48'd63) + 48'd1;
    wire [47:0] wr_burst_end = (wr_line_end <= wr_last) ? wr_line_end : wr_last + B48;
    wire [8:0]  wr_beats = 9'((wr_burst_end - wr_ptr) >> LB);
    // source beats this line needs: up to destination beat n1 + 1 - lag (bounded by Ns - 1)
    wire [31:0] wr_n1 = aw_beat_idx + {23'd0, wr_beats} - 32'd1;
    wire [31:0] wr_need_raw = wr_n1 + 32'd1 - {31'd0, lag};
    wire [31:0] wr_need = (wr_need_raw > ns_total - 32'd1) ? ns_total - 32'd1 : wr_need_raw;
    wire        wr_data_ok = (src_rcvd > wr_need);
    wire        aw_free = !m_axi_awvalid || m_axi_awready;
    wire        wr_want = x_active && !x_stop && !wr_done;
    wire        wr_issue = wr_want && aw_free && wr_data_ok && (aw_ahead < 3'd4)
                        && (wr_lines_out < WR_SLOTS[WSW-1:0]);

    // ------------------------------------------------------------------ W beat assembly
    wire        w_free = !m_axi_wvalid || m_axi_wready;
    wire        w_have_line = (aw_ahead != 3'd0) && x_active;
    wire        w_need_pop = (src_pops < ns_total);
    wire        w_can = w_have_line && (lag || preloaded) && (!w_need_pop || (f_wr != f_rd));
    wire        w_issue = w_free && w_can;
    wire [DATA_W-1:0] w_hi = w_need_pop ? f_head : {DATA_W{1'b0}};
    wire [2*DATA_W-1:0] w_comb = {w_hi, lo_beat} >> (8 * shift_d);
    wire unused_comb = ^{w_comb[2*DATA_W-1:DATA_W], w_last_cnt49[48:LB+1], head_index32[31:8]};
    // byte lanes of destination beat w_beat_idx inside [dst, dst_end)
    wire [47:0] w_beat_addr = (x_dst & BEAT_MASK) + ({16'd0, w_beat_idx} << LB);
    wire [B-1:0] w_first_mask = (w_beat_addr < x_dst)
                              ? ({B{1'b1}} << x_dst[LB-1:0]) : {B{1'b1}};
    wire [48:0] w_beat_end = {1'b0, w_beat_addr} + {1'b0, B48};
    wire [48:0]  w_last_cnt49 = x_dst_end - {1'b0, w_beat_addr};
    wire [LB:0]  w_last_cnt = w_last_cnt49[LB:0];
    wire [B-1:0] w_last_mask = (w_beat_end > x_dst_end)
                             ? ~({B{1'b1}} << w_last_cnt) : {B{1'b1}};
    wire [47:0] r_beat_addr = (x_src & BEAT_MASK) + ({16'd0, src_rcvd} << LB);
    wire        preload_now = x_active && !lag && !preloaded && (f_wr != f_rd);
    // last beat of its AW line (w_line_left = 0: the beat starts the next queued line)
    wire        w_beat_last = (w_line_left == 9'd0) ? (wq_len[wq_rd] == 9'd1)
                                                   : (w_line_left == 9'd1);

    // ------------------------------------------------------------------ write-backs
    reg         wb_active, wb_aw_sent;
    reg  [47:0] wb_addr;
    reg  [127:0] wb_data;
    reg  [4:0]  wb_nbytes;
    reg  [1:0]  wb_beat, wb_nbeats;
    wire [LB-1:0] wb_off = wb_addr[LB-1:0];
    wire [DATA_W+127:0] wb_full = {{DATA_W{1'b0}}, wb_data} << (8 * wb_off);
    wire [B+15:0] wb_full_strb = {{B{1'b0}}, 16'((32'd1 << wb_nbytes) - 32'd1)} << wb_off;

    // ------------------------------------------------------------------ status bits
    wire [3:0] is_vec = {r_is_empty, r_is_stop, r_is_err, r_is_cmpl};
    wire [3:0] ie_vec = {r_ie_empty, r_ie_stop, r_ie_err, r_ie_cmpl};
    assign irq_line = (|(is_vec & ie_vec)) & ~r_irq_mask;
    assign irq = irq_line;
    reg irq_q;

    // coalescing
    reg  [23:0] coal_tmr;
    reg         coal_tmr_on;
    reg  [15:0] coal_unraised;  // IOC completions folded and not yet raised
    wire [15:0] coal_thresh = (r_coal_count == 16'd0) ? 16'd1 : r_coal_count;
    wire        coal_tmr_fire = coal_tmr_on && coal_tmr <= 24'd1 && coal_unraised != 16'd0;
    wire [3:0]  int_raw_w1c = int_raw & ~(w_int_status ? (wdata[3:0] & wmask[3:0]) : 4'd0);

    wire        ei_w1c_err = w_int_status && wdata[1] && wmask[1];
    wire        ctl_byte0 = w_control && wmask[0];
    wire        perf_run = !r_perf_freeze;


    // tail overrun check (ERR_INFO.SW_TAIL_OVERRUN): the new TAIL moved past HEAD. The
    // register block stores TAIL in the cycle its write strobe rises, so the old value is
    // the one of the previous cycle (tail_q).
    reg  [31:0] tail_q;
    wire [31:0] out_before = ((tail_q - head) & ring_mask) >> 5;
    wire [31:0] advance = ((r_tail - tail_q) & ring_mask) >> 5;
    wire [31:0] ring_entries = 32'd1 << ring_log2;

    always @(posedge clk) begin
        if (rst) begin
            state <= S_IDLE;
            tail_q <= 32'd0;
            idle_cycles <= 32'd0;
            cnt <= 32'd0;
            run <= 1'b0;
            halted <= 1'b0;
            head <= 32'd0;
            err_latch <= 6'd0;
            desc_completed <= 16'd0;
            coal_pending <= 16'd0;
            coal_unraised <= 16'd0;
            coal_tmr <= 24'd0;
            coal_tmr_on <= 1'b0;
            rd_last_resp <= 2'd0;
            wr_last_resp <= 2'd0;
            rd_err_count <= 30'd0;
            wr_err_count <= 30'd0;
            ei_code <= 6'd0;
            ei_side <= 2'd0;
            ei_index <= 8'd0;
            ei_count <= 8'd0;
            ei_tail_overrun <= 1'b0;
            ei_head_write <= 1'b0;
            err_desc_addr <= 48'd0;
            err_data_addr <= 48'd0;
            pc_desc_done <= 64'd0;
            pc_bytes_read <= 64'd0;
            pc_bytes_written <= 64'd0;
            pc_busy <= 64'd0;
            pc_fetch <= 64'd0;
            pc_rd_lat <= 64'd0;
            pc_rd_reqs <= 64'd0;
            pc_irqs <= 64'd0;
            pc_doorbells <= 64'd0;
            pc_stall <= 64'd0;
            set_cmpl <= 1'b0;
            set_err <= 1'b0;
            set_stop <= 1'b0;
            set_empty <= 1'b0;
            irq_q <= 1'b0;
            desc_addr <= 48'd0;
            desc_raw <= {DBW{1'b0}};
            fbeats <= 0;
            run_cycles <= 32'd0;
            fail <= 1'b0;
            fail_code <= 6'd0;
            fail_side <= 2'd0;
            fail_data_addr <= 48'd0;
            aborting <= 1'b0;
            abort_pending <= 1'b0;
            wb_is_cmpl <= 1'b0;
            bytes_done <= 64'd0;
            xfer_go <= 1'b0;
            x_active <= 1'b0;
            x_stop <= 1'b0;
            x_src <= 48'd0;
            x_dst <= 48'd0;
            x_src_end <= 49'd0;
            x_dst_end <= 49'd0;
            rd_ptr <= 48'd0;
            rd_last <= 48'd0;
            rd_done <= 1'b1;
            ns_total <= 32'd0;
            src_rcvd <= 32'd0;
            rd_err_seen <= 1'b0;
            wr_err_seen <= 1'b0;
            ba_wr <= 0;
            ba_rd <= 0;
            abort_nowb <= 1'b0;
            wb_seq <= 16'd0;
            int_raw <= 4'd0;
            wr_ptr <= 48'd0;
            wr_last <= 48'd0;
            wr_done <= 1'b1;
            aw_beat_idx <= 32'd0;
            w_beat_idx <= 32'd0;
            src_pops <= 32'd0;
            lag <= 1'b0;
            shift_d <= 0;
            preloaded <= 1'b0;
            lo_beat <= {DATA_W{1'b0}};
            beats_reserved <= 0;
            tokens <= TOK_MAX;
            aw_ahead <= 3'd0;
            w_line_left <= 9'd0;
            wq_wr <= 3'd0;
            wq_rd <= 3'd0;
            f_wr <= 0;
            f_rd <= 0;
            ts_wr <= 0;
            ts_rd <= 0;
            cycle <= 32'd0;
            rd_lines_out <= 0;
            wr_lines_out <= 0;
            m_axi_arvalid <= 1'b0;
            m_axi_araddr <= {ADDR_W{1'b0}};
            m_axi_arlen <= 8'd0;
            m_axi_awvalid <= 1'b0;
            m_axi_awaddr <= {ADDR_W{1'b0}};
            m_axi_awlen <= 8'd0;
            m_axi_wvalid <= 1'b0;
            m_axi_wdata <= {DATA_W{1'b0}};
            m_axi_wstrb <= {B{1'b0}};
            m_axi_wlast <= 1'b0;
            wb_active <= 1'b0;
            wb_aw_sent <= 1'b0;
            wb_addr <= 48'd0;
            wb_data <= 128'd0;
            wb_nbytes <= 5'd0;
            wb_beat <= 2'd0;
            wb_nbeats <= 2'd0;
        end else begin
            cycle <= cycle + 32'd1;
            tail_q <= r_tail;
            set_cmpl <= 1'b0;
            set_err <= 1'b0;
            set_stop <= 1'b0;
            set_empty <= 1'b0;
            xfer_go <= 1'b0;

            // ---------------------------------------------------- software writes
            if (ctl_byte0) begin
                // CONTROL.RUN: 1 clears HALTED and (re)starts; 0 stops after the current one
                run <= wdata[0];
                if (wdata[0]) halted <= 1'b0;
            end
            if (w_head) begin
                // HEAD_LO: sw_write_gate "RUN == 0 || HALTED == 1"
                if (!run || halted) head <= (head & ~wmask) | (wdata & wmask);
                else ei_head_write <= 1'b1;
            end
            if (w_tail) begin
                if (perf_run) pc_doorbells <= pc_doorbells + 64'd1;
                if (advance != 32'd0 && out_before + advance >= ring_entries)
                    ei_tail_overrun <= 1'b1;
            end
            if (ei_w1c_err) err_latch <= 6'd0;  // releases the first-error latch
            if (abort_wr) abort_pending <= 1'b1;
            if (rd_coal_pending) coal_pending <= 16'd0;
            if (perf_reset_wr) begin
                pc_desc_done <= 64'd0;
                pc_bytes_read <= 64'd0;
                pc_bytes_written <= 64'd0;
                pc_busy <= 64'd0;
                pc_fetch <= 64'd0;
                pc_rd_lat <= 64'd0;
                pc_rd_reqs <= 64'd0;
                pc_irqs <= 64'd0;
                pc_doorbells <= 64'd0;
                pc_stall <= 64'd0;
            end

            // ---------------------------------------------------- interrupt edges
            irq_q <= irq_line;
            if (irq_line && !irq_q && perf_run && !perf_reset_wr) pc_irqs <= pc_irqs + 64'd1;

            // ---------------------------------------------------- busy / fetch counters
            if (perf_run && !perf_reset_wr && state != S_IDLE) pc_busy <= pc_busy + 64'd1;
            if (perf_run && !perf_reset_wr && (state == S_FETCH || state == S_FWAIT
                                                || state == S_FEXTRA))
                pc_fetch <= pc_fetch + 64'd1;
            if (state != S_IDLE) run_cycles <= run_cycles + 32'd1;
            if (state == S_DONE) idle_cycles <= 32'd0;
            else if (state == S_IDLE && idle_cycles != 32'hFFFF_FFFF)
                idle_cycles <= idle_cycles + 32'd1;

            // ---------------------------------------------------- coalescing timer
            int_raw <= int_raw_w1c | (coal_tmr_fire ? 4'b0001 : 4'b0000);
            if (coal_tmr_on) begin
                if (coal_tmr <= 24'd1) begin
                    coal_tmr_on <= 1'b0;
                    if (coal_tmr_fire) begin
                        set_cmpl <= 1'b1;
                        coal_unraised <= 16'd0;
                        coal_pending <= 16'd0;
                    end
                end else begin
                    coal_tmr <= coal_tmr - 24'd1;
                end
            end

            // ---------------------------------------------------- token bucket
            if (CAP_MBPC != 0) begin
                if (rd_issue) begin
                    tokens <= ((tokens - rd_cost * 32'd1000 + CAP_MBPC) > TOK_MAX)
                              ? TOK_MAX : tokens - rd_cost * 32'd1000 + CAP_MBPC;
                end else begin
                    tokens <= (tokens + CAP_MBPC > TOK_MAX) ? TOK_MAX : tokens + CAP_MBPC;
                end
            end

            // ---------------------------------------------------- AR channel
            if (m_axi_arvalid && m_axi_arready) m_axi_arvalid <= 1'b0;
            if (rd_issue) begin
                m_axi_arvalid <= 1'b1;
                m_axi_araddr <= {{(ADDR_W-48){1'b0}}, rd_ptr};
                m_axi_arlen <= 8'(rd_beats - 9'd1);
                rd_ptr <= rd_burst_end;
                if (rd_burst_end > rd_last) rd_done <= 1'b1;
                ts_fifo[ts_wr] <= cycle;
                ts_wr <= (ts_wr == TSW'(RD_SLOTS - 1)) ? {TSW{1'b0}} : ts_wr + 1'b1;
                if (perf_run && !perf_reset_wr) begin
                    pc_rd_reqs <= pc_rd_reqs + 64'd1;
                end
            end
            if (rd_want && ar_free && rd_tok_ok && !rd_slot_ok && perf_run && !perf_reset_wr)
                pc_stall <= pc_stall + 64'd1;

            // outstanding read lines and reserved buffer beats
            begin : rd_accounting
                reg inc, dec;
                inc = rd_issue;
                dec = m_axi_rvalid && m_axi_rlast && x_active;
                if (inc && !dec) rd_lines_out <= rd_lines_out + 1'b1;
                else if (!inc && dec) rd_lines_out <= rd_lines_out - 1'b1;
            end

            // ---------------------------------------------------- R channel (datapath)
            if (m_axi_rvalid && x_active) begin
                if (m_axi_rlast) begin
                    if (perf_run && !perf_reset_wr)
                        pc_rd_lat <= pc_rd_lat + {32'd0, cycle - ts_fifo[ts_rd]};
                    ts_rd <= (ts_rd == TSW'(RD_SLOTS - 1)) ? {TSW{1'b0}} : ts_rd + 1'b1;
                end
                if (m_axi_rresp != 2'b00 && !rd_err_seen) begin
                    // DMA_RD_STATUS: last response and one count per failing descriptor
                    rd_last_resp <= m_axi_rresp;
                    rd_err_count <= rd_err_count + 30'd1;
                    rd_err_seen <= 1'b1;
                    x_stop <= 1'b1;
                    if (!fail) begin
                        fail <= 1'b1;
                        fail_code <= (m_axi_rresp == 2'b11) ? ERR_IDMA0_AXI_DECERR[5:0]
                                                            : ERR_IDMA0_AXI_SLVERR[5:0];
                        fail_side <= SIDE_READ[1:0];
                        fail_data_addr <= (r_beat_addr > x_src) ? r_beat_addr : x_src;
                    end
                end
                if (!rd_err_seen && m_axi_rresp == 2'b00) src_rcvd <= src_rcvd + 32'd1;
                fifo[f_wr[FA-1:0]] <= m_axi_rdata;
                f_wr <= f_wr + 1'b1;
            end

            // ---------------------------------------------------- AW channel (datapath or WB)
            if (m_axi_awvalid && m_axi_awready) m_axi_awvalid <= 1'b0;
            if (wr_issue) begin
                m_axi_awvalid <= 1'b1;
                m_axi_awaddr <= {{(ADDR_W-48){1'b0}}, wr_ptr};
                m_axi_awlen <= 8'(wr_beats - 9'd1);
                wr_ptr <= wr_burst_end;
                aw_beat_idx <= aw_beat_idx + {23'd0, wr_beats};
                if (wr_burst_end > wr_last) wr_done <= 1'b1;
                wq_len[wq_wr] <= wr_beats;
                ba_fifo[ba_wr] <= wr_ptr;
                ba_wr <= ba_wr + 1'b1;
                wq_wr <= wq_wr + 3'd1;
            end

            // ---------------------------------------------------- W channel
            if (m_axi_wvalid && m_axi_wready) m_axi_wvalid <= 1'b0;
            if (preload_now) begin
                lo_beat <= f_head;
                f_rd <= f_rd + 1'b1;
                src_pops <= src_pops + 32'd1;
                preloaded <= 1'b1;
            end else if (w_issue) begin
                m_axi_wvalid <= 1'b1;
                m_axi_wdata <= w_comb[DATA_W-1:0];
                m_axi_wstrb <= w_first_mask & w_last_mask;
                m_axi_wlast <= w_beat_last;
                lo_beat <= w_hi;
                if (w_need_pop) begin
                    f_rd <= f_rd + 1'b1;
                    src_pops <= src_pops + 32'd1;
                end
                w_beat_idx <= w_beat_idx + 32'd1;
                if (w_line_left == 9'd0) begin
                    // first beat of the next AW line
                    w_line_left <= wq_len[wq_rd] - 9'd1;
                    wq_rd <= wq_rd + 3'd1;
                end else begin
                    w_line_left <= w_line_left - 9'd1;
                end
            end
            aw_ahead <= aw_ahead + (wr_issue ? 3'd1 : 3'd0)
                        - ((w_issue && !preload_now && w_beat_last) ? 3'd1 : 3'd0);

            // FIFO space: reserve at AR issue, release at pop
            begin : fifo_accounting
                reg [RSW+8:0] res;
                res = beats_reserved;
                if (rd_issue) res = res + {{RSW{1'b0}}, rd_beats};
                if (preload_now || (w_issue && w_need_pop)) res = res - 1'b1;
                beats_reserved <= res;
            end

            // ---------------------------------------------------- B channel (datapath)
            begin : wr_accounting
                reg inc, dec;
                inc = wr_issue;
                dec = m_axi_bvalid && x_active;
                if (inc && !dec) wr_lines_out <= wr_lines_out + 1'b1;
                else if (!inc && dec) wr_lines_out <= wr_lines_out - 1'b1;
            end
            if (m_axi_bvalid && x_active) begin
                ba_rd <= ba_rd + 1'b1;
            end
            if (m_axi_bvalid && m_axi_bresp != 2'b00
                && ((x_active && !wr_err_seen) || wb_active)) begin
                // DMA_WR_STATUS: last response and one count per failing descriptor/write-back
                wr_last_resp <= m_axi_bresp;
                wr_err_count <= wr_err_count + 30'd1;
            end
            if (m_axi_bvalid && x_active && m_axi_bresp != 2'b00 && !wr_err_seen) begin
                wr_err_seen <= 1'b1;
                x_stop <= 1'b1;
                if (!fail) begin
                    fail <= 1'b1;
                    fail_code <= (m_axi_bresp == 2'b11) ? ERR_ODMA0_AXI_DECERR[5:0]
                                                        : ERR_ODMA0_AXI_SLVERR[5:0];
                    fail_side <= SIDE_WRITE[1:0];
                    // B carries no address: the line's start from the AW order
                    fail_data_addr <= (ba_fifo[ba_rd] > x_dst) ? ba_fifo[ba_rd] : x_dst;
                end
            end

            // ---------------------------------------------------- CMD_TIMEOUT
            if (x_active && r_timeout != 32'd0 && run_cycles >= r_timeout && !fail) begin
                fail <= 1'b1;
                fail_code <= ERR_CMD_TIMEOUT[5:0];
                fail_side <= SIDE_DESCRIPTOR[1:0];
                fail_data_addr <= 48'd0;
                x_stop <= 1'b1;
            end
            // ABORT while streaming: stop issuing and drain
            if (x_active && (abort_wr || abort_pending)) begin
                x_stop <= 1'b1;
                aborting <= 1'b1;
            end

            // ---------------------------------------------------- datapath start / end
            if (xfer_go) begin
                x_active <= 1'b1;
                x_stop <= 1'b0;
                x_src <= d_src;
                x_dst <= d_dst;
                x_src_end <= src_end49;
                x_dst_end <= dst_end49;
                rd_ptr <= d_src & BEAT_MASK;
                rd_last <= 48'((src_end49 - 49'd1) & BEAT_MASK);
                rd_done <= 1'b0;
                ns_total <= 32'(((src_end49 - 49'd1) >> LB) - ({1'b0, d_src} >> LB) + 49'd1);
                src_rcvd <= 32'd0;
                rd_err_seen <= 1'b0;
                wr_err_seen <= 1'b0;
                ba_wr <= 0;
                ba_rd <= 0;
                wr_ptr <= d_dst & BEAT_MASK;
                wr_last <= 48'((dst_end49 - 49'd1) & BEAT_MASK);
                wr_done <= 1'b0;
                aw_beat_idx <= 32'd0;
                w_beat_idx <= 32'd0;
                src_pops <= 32'd0;
                lag <= (d_src[LB-1:0] < d_dst[LB-1:0]);
                shift_d <= (d_src[LB-1:0] < d_dst[LB-1:0])
                           ? (BL + {1'b0, d_src[LB-1:0]} - {1'b0, d_dst[LB-1:0]})
                           : ({1'b0, d_src[LB-1:0]} - {1'b0, d_dst[LB-1:0]});
                preloaded <= 1'b0;
                lo_beat <= {DATA_W{1'b0}};
                f_wr <= 0;
                f_rd <= 0;
                beats_reserved <= 0;
                aw_ahead <= 3'd0;
                w_line_left <= 9'd0;
                wq_wr <= 3'd0;
                wq_rd <= 3'd0;
            end
            if (x_active && (rd_done || x_stop) && (wr_done || x_stop) && rd_lines_out == 0
                && wr_lines_out == 0 && aw_ahead == 3'd0 && !m_axi_awvalid && !m_axi_wvalid
                && !m_axi_arvalid && !xfer_go) begin
                x_active <= 1'b0;
            end

            // ---------------------------------------------------- write-back engine
            if (wb_active) begin
                if (!wb_aw_sent && !m_axi_awvalid) begin
                    m_axi_awvalid <= 1'b1;
                    m_axi_awaddr <= {{(ADDR_W-48){1'b0}}, wb_addr & BEAT_MASK};
                    m_axi_awlen <= {6'd0, wb_nbeats - 2'd1};
                    wb_aw_sent <= 1'b1;
                end
                if (wb_beat != wb_nbeats && (!m_axi_wvalid || m_axi_wready)) begin
                    m_axi_wvalid <= 1'b1;
                    m_axi_wdata <= wb_full[wb_beat * DATA_W +: DATA_W];
                    m_axi_wstrb <= wb_full_strb[wb_beat * B +: B];
                    m_axi_wlast <= (wb_beat + 2'd1 == wb_nbeats);
                    wb_beat <= wb_beat + 2'd1;
                end
                if (m_axi_bvalid) wb_active <= 1'b0;  // a failed write-back is counted in
                                                       // DMA_WR_STATUS (B channel above)
            end

            // ---------------------------------------------------- control FSM
            case (state)
                S_IDLE: begin
                    aborting <= 1'b0;
                    abort_nowb <= 1'b0;
                    if (abort_pending || abort_wr) begin
                        // ABORT with nothing running: the queue stops (QUEUE_STOPPED)
                        abort_pending <= 1'b0;
                        run <= 1'b0;
                        halted <= 1'b1;
                        set_stop <= 1'b1;
                        int_raw <= int_raw_w1c | 4'b0100 | (coal_tmr_fire ? 4'b0001 : 4'b0000);
                    end else if (run && !halted && head != r_tail && !ctl_byte0 && !w_head) begin
                        // a gated clock (idle >= GATE_IDLE_CYCLES) first has to come back
                        if (r_gate_mode && idle_cycles >= GATE_IDLE_CYCLES) begin
                            state <= S_UNGATE;
                            cnt <= UNGATE_CYCLES;
                        end else begin
                            state <= S_FETCH;
                        end
                        desc_addr <= {r_base_hi, head};
                        run_cycles <= 32'd0;
                        fail <= 1'b0;
                        fail_code <= 6'd0;
                        fail_side <= 2'd0;
                        fail_data_addr <= 48'd0;
                    end
                end
                S_UNGATE: begin
                    if (cnt <= 32'd1) state <= S_FETCH;
                    else cnt <= cnt - 32'd1;
                end
                S_FETCH: begin
                    if (abort_now) begin
                        aborting <= 1'b1;  // aborted before decode: nothing moved, no write-backs
                        abort_nowb <= 1'b1;
                        state <= S_DONE;
                    end else if (ar_free && !rd_want) begin
                        m_axi_arvalid <= 1'b1;
                        m_axi_araddr <= {{(ADDR_W-48){1'b0}}, desc_addr & BEAT_MASK};
                        m_axi_arlen <= 8'(DESC_BEATS - 1);
                        fbeats <= 0;
                        state <= S_FWAIT;
                    end
                end
                S_FWAIT: begin
                    if (m_axi_rvalid) begin
                        if (B >= 32)
                            desc_raw <= {{(DBW-DATA_W){1'b0}}, m_axi_rdata}
                                        >> (8 * desc_lane);
                        else
                            desc_raw[fbeats * DATA_W +: DATA_W] <= m_axi_rdata;
                        fbeats <= fbeats + 1'b1;
                        if (m_axi_rresp != 2'b00 && !fail) begin
                            // descriptor fetch answered SLVERR/DECERR (side FETCH)
                            rd_last_resp <= m_axi_rresp;
                            rd_err_count <= rd_err_count + 30'd1;
                            fail <= 1'b1;
                            fail_code <= (m_axi_rresp == 2'b11) ? ERR_IDMA0_AXI_DECERR[5:0]
                                                                : ERR_IDMA0_AXI_SLVERR[5:0];
                            fail_side <= SIDE_FETCH[1:0];
                            fail_data_addr <= desc_addr;
                        end
                        if (m_axi_rlast) begin
                            if (abort_now) begin
                                aborting <= 1'b1;
                                abort_nowb <= 1'b1;
                                state <= S_DONE;
                            end else begin
                                state <= S_FEXTRA;
                                cnt <= FETCH_EXTRA_CYCLES;
                            end
                        end
                    end
                end
                S_FEXTRA: begin
                    if (abort_now) begin
                        aborting <= 1'b1;
                        abort_nowb <= 1'b1;
                        state <= S_DONE;
                    end else if (cnt <= 32'd1) begin
                        state <= S_DECODE;
                        cnt <= DECODE_CYCLES;
                    end else begin
                        cnt <= cnt - 32'd1;
                    end
                end
                S_DECODE: begin
                    if (abort_now) begin
                        aborting <= 1'b1;
                        abort_nowb <= 1'b1;
                        state <= S_DONE;
                    end else if (cnt <= 32'd1) begin
                        if (fail) begin
                            state <= S_CWAIT;  // fetch failed: nothing to validate
                            cnt <= COMPLETION_CYCLES;
                        end else if (v_code != 6'd0) begin
                            fail <= 1'b1;
                            fail_code <= v_code;
                            fail_side <= v_side;
                            fail_data_addr <= v_addr;
                            state <= S_CWAIT;
                            cnt <= COMPLETION_CYCLES;
                        end else if (d_len == 32'd0) begin
                            state <= S_CWAIT;  // ZERO_LEN_NOP
                            cnt <= COMPLETION_CYCLES;
                        end else begin
                            xfer_go <= 1'b1;
                            state <= S_XFER;
                        end
                    end else begin
                        cnt <= cnt - 32'd1;
                    end
                end
                S_XFER: begin
                    if (!x_active && !xfer_go) begin
                        // an aborted stream settles as soon as it has drained
                        state <= aborting ? S_DWB : S_CWAIT;
                        cnt <= COMPLETION_CYCLES;
                    end
                end
                S_CWAIT: begin
                    if (abort_now) begin
                        aborting <= 1'b1;
                        state <= S_DWB;
                    end else if (cnt <= 32'd1) begin
                        state <= S_DWB;
                    end else begin
                        cnt <= cnt - 32'd1;
                    end
                end
                S_DWB: begin
                    // DESC_WB: dw6 = {seq, err, status} (§4)
                    if (r_desc_wb_en && !abort_nowb) begin
                        wb_active <= 1'b1;
                        wb_aw_sent <= 1'b0;
                        wb_beat <= 2'd0;
                        wb_addr <= desc_addr + 48'd24;
                        wb_nbytes <= 5'd4;
                        wb_nbeats <= 2'd1;
                        wb_data <= {96'd0, wb_seq + 16'd1, 2'b00, o_code, o_wbst};
                        wb_is_cmpl <= 1'b0;
                        state <= S_WBWAIT;
                    end else begin
                        state <= S_CWB;
                    end
                end
                S_CWB: begin
                    // CMPL_WB record: +0 HEAD_LO, +4 completed, status, err, +8 bytes (§6)
                    if (r_cmpl_wb_en && !abort_nowb) begin
                        wb_active <= 1'b1;
                        wb_aw_sent <= 1'b0;
                        wb_beat <= 2'd0;
                        wb_addr <= {r_cmpl_hi[15:0], r_cmpl_lo[31:4], 4'd0};
                        wb_nbytes <= 5'd16;
                        wb_nbeats <= (B >= 16) ? 2'd1 : 2'd2;
                        wb_data <= {o_bytes, 2'b00, o_code, o_cmpl_st, o_done_cnt, o_new_head};
                        wb_is_cmpl <= 1'b1;
                        state <= S_WBWAIT;
                    end else begin
                        state <= S_DONE;
                    end
                end
                S_WBWAIT: begin
                    if (!wb_active) state <= wb_is_cmpl ? S_DONE : S_CWB;
                end
                S_DONE: begin : settle
                    // §6 order: data, DESC_WB, CMPL_WB (done), HEAD, counters, status, MSI
                    reg [15:0] unr;
                    reg fire;
                    reg [3:0] bits;
                    state <= S_IDLE;
                    abort_pending <= 1'b0;
                    wb_seq <= wb_seq + 16'd1;
                    head <= o_new_head;
                    unr = coal_tmr_fire ? 16'd0 : coal_unraised;
                    fire = 1'b0;
                    bits = coal_tmr_fire ? 4'b0001 : 4'b0000;
                    if (o_ok) begin
                        desc_completed <= o_done_cnt;
                        bytes_done <= o_bytes;
                        if (perf_run && !perf_reset_wr) begin
                            pc_desc_done <= pc_desc_done + 64'd1;
                            pc_bytes_read <= pc_bytes_read + {32'd0, d_len};
                            pc_bytes_written <= pc_bytes_written + {32'd0, d_len};
                        end
                        if (d_ioc) begin
                            bits[0] = 1'b1;  // raw COMPLETION, also when folded
                            if (!r_coal_en) begin
                                set_cmpl <= 1'b1;
                            end else begin
                                unr = unr + 16'd1;
                                coal_pending <= (rd_coal_pending ? 16'd0 : coal_pending)
                                                + ((coal_pending == 16'hFFFF) ? 16'd0 : 16'd1);
                                if (unr >= coal_thresh) begin
                                    fire = 1'b1;
                                end else if (unr == 16'd1 && r_coal_timer != 24'd0) begin
                                    coal_tmr_on <= 1'b1;
                                    coal_tmr <= r_coal_timer;
                                end
                            end
                        end
                    end else if (!aborting) begin
                        if (err_latch == 6'd0 || ei_w1c_err) err_latch <= fail_code;
                        set_err <= 1'b1;
                        bits[1] = 1'b1;
                        ei_code <= fail_code;
                        ei_side <= fail_side;
                        ei_index <= head_index32[7:0];
                        if (ei_count != 8'hFF) ei_count <= ei_count + 8'd1;
                        err_desc_addr <= desc_addr;
                        err_data_addr <= fail_data_addr;
                    end
                    if (o_halts) begin
                        run <= 1'b0;
                        halted <= 1'b1;
                        set_stop <= 1'b1;
                        bits[2] = 1'b1;
                    end else if (o_new_head == r_tail) begin
                        set_empty <= 1'b1;  // the queue drained: flush folded completions
                        bits[3] = 1'b1;
                        if (unr != 16'd0) fire = 1'b1;
                    end
                    if (fire) begin
                        set_cmpl <= 1'b1;
                        coal_pending <= 16'd0;
                        coal_tmr_on <= 1'b0;
                        unr = 16'd0;
                    end
                    coal_unraised <= unr;
                    int_raw <= int_raw_w1c | bits;
                end
                default: state <= S_IDLE;
            endcase
        end
    end

`ifdef PTDMA_ASSERTIONS
    wire [FA:0]  f_used = f_wr - f_rd;
    wire [B-1:0] wstrb_next = w_first_mask & w_last_mask;
    reg [DATA_W-1:0] wdata_lane_mask;
    integer li;
    always @(*) for (li = 0; li < DATA_W; li = li + 1) wdata_lane_mask[li] = wstrb_next[li / 8];
    // simulation checks (enabled by the bench with -DPTDMA_ASSERTIONS)
    always @(posedge clk) begin
        if (!rst && m_axi_rvalid && x_active && 32'(f_used) > FIFO_BEATS) begin
            $display("ASSERTION FAILED: read FIFO overflow at %0t", $time);
            $fatal(1);
        end
        if (!rst && w_issue && !preload_now && ((^(w_comb[DATA_W-1:0] & wdata_lane_mask)) === 1'bx)) begin
            $display("ASSERTION FAILED: X in strobed write data at %0t: pops %0d/%0d w_beat %0d lag %0d shift %0d f_wr %0d f_rd %0d rcvd %0d lo %h hi %h",
                     $time, src_pops, ns_total, w_beat_idx, lag, shift_d, f_wr, f_rd, src_rcvd, lo_beat, w_hi);
            $fatal(1);
        end
    end
`endif
endmodule
`default_nettype wire
