/*
 * teardown.pml -- a Promela port of the checked system of teardown, for benchmarking
 * Spin against the stateright checker on the same transition system (issue 9).
 *
 * This is NOT a second implementation of the teardown rules for any other use (see
 * shared/DESIGN.md, "The one rule"): it re-states model/src/endpoint.rs and
 * model/src/system.rs for the knob values of two built-ins only, so that Spin explores the
 * very same state graph. Every Rust action (system.rs `Action`) is exactly one Promela
 * transition: one `d_step` per alternative of a single process's `do` loop, so Spin stores
 * one state per Rust `SystemState` and counts one transition per Rust edge. Scratch
 * variables are `hidden` (not in the state vector). Generate pan with `spin -o2 -a`: Spin's
 * default dead-variable elimination would drop the write-only ghosts `witness` and
 * `tsclk` from the state vector, and so explore a quotient of the Rust graph (README.md).
 * equivalence.sh checks that the reachable state sets are equal, state for state.
 *
 * Stacks (select with spin -DSTACK=n; bounds and timers are those `teardown check` prints):
 *   STACK 1  rfc9293+rfc1337   MSL 2 ticks, TIME-WAIT 4, RTO 1; losses 1, dups 1, delays 1
 *   STACK 2  short-time-wait   MSL 2 ticks, TIME-WAIT 2, RTO 1; losses 1, dups 0, delays 2;
 *                              like every unsafe built-in, the ISN of a new incarnation may
 *                              also be the old one (IsnPolicy::Arbitrary, `safe` in builtins.rs)
 *   STACK 3  rfc9293           (cross-check only) as 1 but no TIME-WAIT restart, RST closes
 *                              TIME-WAIT
 * All three: incarnations 2, data 1, 3 retransmissions, no FIN-WAIT-2 timeout, RFC 793
 * RST/SYN checks, no timestamps, applications close with shutdown() only (builtins.rs
 * `rfc9293()`, `rfc9293_rfc1337()`, "short-time-wait" at commit HEAD).
 * Every bound can be overridden: -DLOSSES=n -DDUPS=n -DDELAYS=n -DINCARNATIONS=n -DDATA=n.
 *
 * Properties (system.rs `all_properties`, the five `always` ones), asserted at the end of
 * every transition; select with -DPROPS=<bitmask> (default 31 = all):
 *   1  final ACK is always recovered                 (P_FINAL_ACK)
 *   2  old segment never accepted by a new incarnation (P_OLD_ACCEPTED)
 *   4  old segment never delivered to a new incarnation (P_OLD_DELIVERED)
 *   8  graceful close delivers all data written before close (P_DATA)
 *  16  no endless exchange of ACKs (RFC 1337 H2)      (P_NO_ACK_LOOP)
 * With -DLIVENESS the `eventually` property P_BOTH_CLOSED is an LTL claim (pan -a, no
 * -DSAFETY). The nine `sometimes` witnesses are not ported.
 *
 * -DDUMP (with pan compiled -DPRINTF) prints every reached state in the layout of
 * check_states.py, to compare the reachable set with `teardown graph --format json`.
 */

/* ------------------------------------------------------------------ configuration */

#ifndef STACK
#define STACK 1
#endif

#if STACK == 1          /* builtins.rs rfc9293_rfc1337(), bounds STD = (1, 1, 1) */
#define TW_TICKS        4
#define TW_RESTART      1
#define TW_RST_IGNORED  1
#define ISN_ARBITRARY   0       /* IsnPolicy::AboveOld */
#define D_LOSSES        1
#define D_DUPS          1
#define D_DELAYS        1
#elif STACK == 2        /* builtins.rs "short-time-wait": TIME-WAIT = MSL, bounds (1, 0, 2) */
#define TW_TICKS        2
#define TW_RESTART      1
#define TW_RST_IGNORED  1
#define ISN_ARBITRARY   1       /* IsnPolicy::Arbitrary: new ISN above the old space, or the old ISN */
#define D_LOSSES        1
#define D_DUPS          0
#define D_DELAYS        2
#elif STACK == 3        /* builtins.rs rfc9293(), bounds STD */
#define TW_TICKS        4
#define TW_RESTART      0
#define TW_RST_IGNORED  0
#define ISN_ARBITRARY   0
#define D_LOSSES        1
#define D_DUPS          1
#define D_DELAYS        1
#endif

#ifndef LOSSES
#define LOSSES D_LOSSES
#endif
#ifndef DUPS
#define DUPS D_DUPS
#endif
#ifndef DELAYS
#define DELAYS D_DELAYS
#endif
#ifndef INCARNATIONS
#define INCARNATIONS 2
#endif
#ifndef DATA
#define DATA 1
#endif
#ifndef PROPS
#define PROPS 31
#endif
#if INCARNATIONS > 3 || DATA > 7
#error "a segment packs its incarnation in 2 bits and its length in 3"
#endif

/* TickTimers::convert with tick = MSL/2 (builtins.rs `bounds`): MSL 2 ticks, RTO 1 s
   rounded up to one tick of 60 s; Timers::max_retries 3. */
#define MSL_TICKS       2
#define RTO_TICKS       1
#define MAX_RETRIES     3

/* system.rs constants */
#define DATA_LEN        1       /* DATA_LEN */
#define WND             8       /* WINDOW */
#define ISN_GAP         64      /* ISN_GAP */
#define ACKX_LIMIT      12      /* ACK_EXCHANGE_LIMIT */

/* Capacity of the network vector (the Rust `Vec<InFlight>` is unbounded; the largest
   reached in these configurations is 6, of which at most 2 late): exceeding it is an
   assertion failure, never a silent cut. */
#ifndef NCAP
#define NCAP            6
#endif
#ifndef LMAX
#define LMAX            3
#endif
#if LMAX > 4 || LMAX > NCAP
#error "LMAX: at most 4 late-segment positions are written out below, and at most NCAP"
#endif

/* ------------------------------------------------------------------ encodings */

/* endpoint.rs `State` */
#define CLOSED      0
#define LISTEN      1
#define SYNSENT     2
#define SYNRCVD     3
#define EST         4
#define FW1         5
#define FW2         6
#define CLOSEWAIT   7
#define CLOSING     8
#define LASTACK     9
#define TIMEWAIT    10
#define SYNCHRONIZED(s)     ((s) > SYNSENT)                               /* is_synchronized */
#define FIN_OUTSTANDING(s)  ((s) == FW1 || (s) == CLOSING || (s) == LASTACK) /* fin_outstanding */
#define PEER_FIN_RCVD(s)    ((s) == CLOSEWAIT || (s) == CLOSING || (s) == LASTACK || (s) == TIMEWAIT)

#define CLIENT 0
#define SERVER 1
#define NOTIMER 255             /* timer: None */
#define NOSEG   (-1)            /* out: None */

/* segment.rs `Flags` (same bits) */
#define F_SYN 1
#define F_ACK 2
#define F_FIN 4
#define F_RST 8

/* An `InFlight` packed in one int, most significant field first so that integer order is
   the derived `Ord` of InFlight (late, to, age, seg) and Segment (flags, seq, ack, len,
   tsval = None, ghost.incarnation, ghost.answers_fin):
     late:1 @30 | to:1 @29 | age:3 @26 | flags:4 @22 | seq:8 @14 | ack:8 @6 | len:3 @3 | inc:2 @1 | af:1 @0 */
#define MKSEG(f,s,a,l,i,af) (((f) << 22) | ((s) << 14) | ((a) << 6) | ((l) << 3) | ((i) << 1) | (af))
#define SEGMASK     ((1 << 26) - 1)
#define LATEBIT     (1 << 30)
#define AGE1        (1 << 26)
#define IS_LATE(x)  (((x) >> 30) & 1)
#define TO(x)       (((x) >> 29) & 1)
#define AGE(x)      (((x) >> 26) & 7)
#define FLAGS(x)    (((x) >> 22) & 15)

/* seq.rs `SeqNum for u8`: modular arithmetic on 256 sequence numbers */
#define MOD(x)          ((x) & 255)
#define DIST(a,b)       ((MOD((a) - (b)) < 128) -> MOD((a) - (b)) : (MOD((a) - (b)) - 256))
#define AFTER(a,b)      (DIST(a,b) > 0)
#define AT_OR_BEFORE(a,b) (DIST(a,b) <= 0)

/* system.rs `flag` */
#define FL_FIN_RST      1       /* FIN_ANSWERED_BY_RST */
#define FL_GAVE_UP      2       /* GAVE_UP_ON_FIN */
#define FL_OLD_ACC      4       /* OLD_ACCEPTED */
#define FL_OLD_DEL      8       /* OLD_DELIVERED */
#define FL_DATA_LOST    16      /* DATA_LOST */
#define FL_FIN_DROPPED  32      /* FIN_DROPPED */

/* system.rs `Witness` (0 = None), in declaration order */
#define W_LOST_FINAL_ACK 1
#define W_SIMULTANEOUS   2
#define W_FW1_TW         3
#define W_HALF_CLOSE     4
#define W_TW_RESTART     5
#define W_NEW_INC        6
#define W_OLD_DUP_WINDOW 7
#define W_PAWS           8
#define W_ASSASSINATED   9

/* rules.rs `Rule`: the ones reachable with these knobs */
#define R_APP_CONNECT            1
#define R_APP_SEND               2
#define R_APP_CLOSE_FW1          3
#define R_APP_CLOSE_LASTACK      4
#define R_CLOSED_RESET           5
#define R_CLOSED_RST_DROPPED     6
#define R_LISTEN_SYN_ACCEPTED    7
#define R_LISTEN_ACK_RESET       8
#define R_LISTEN_DROPPED         9
#define R_SYNSENT_ESTABLISHED    10
#define R_SYNSENT_BADACK_RESET   11
#define R_SYNSENT_RESET          12
#define R_SYNSENT_DROPPED        13
#define R_SEQ_UNACC_ACK          14
#define R_SEQ_UNACC_RST_DROPPED  15
#define R_TW_FIN_REACKED         16
#define R_RST_RESETS             17
#define R_RST_CLOSES_TW          18
#define R_RST_IGNORED_TW         19
#define R_SYN_INWINDOW_RESET     20
#define R_ACK_BIT_OFF            21
#define R_SYNRCVD_ESTABLISHED    22
#define R_SYNRCVD_BADACK_RESET   23
#define R_ACK_UNSENT             24
#define R_FW1_FIN_ACKED          25
#define R_CLOSING_FIN_ACKED      26
#define R_LASTACK_FIN_ACKED      27
#define R_ACK_ADVANCES           28
#define R_ACK_DUPLICATE          29
#define R_TW_SEG_IGNORED         30
#define R_DATA_DELIVERED         31
#define R_DATA_OOO               32
#define R_DATA_AFTER_FIN_IGNORED 33
#define R_FIN_CLOSEWAIT          34
#define R_FIN_CLOSING            35
#define R_FW1_TW                 36
#define R_FW2_TW                 37
#define R_RTO_RETRANSMIT         38
#define R_RTO_GIVEUP             39
#define R_TW_EXPIRED             40

/* Rule::accepts_segment (the third column of rules.rs) */
#define ACCEPTS(r) ((r) == R_LISTEN_SYN_ACCEPTED || (r) == R_SYNSENT_ESTABLISHED || \
    (r) == R_SYNSENT_RESET || (r) == R_TW_FIN_REACKED || (r) == R_RST_RESETS || \
    (r) == R_RST_CLOSES_TW || (r) == R_SYN_INWINDOW_RESET || ((r) >= R_SYNRCVD_ESTABLISHED && \
    (r) != R_SYNRCVD_BADACK_RESET && (r) != R_ACK_UNSENT && (r) <= R_FW2_TW))
/* Rule::answers_rejected_segment */
#define ANSWERS_REJECTED(r) ((r) == R_SEQ_UNACC_ACK || (r) == R_ACK_UNSENT || \
    (r) == R_DATA_OOO || (r) == R_TW_FIN_REACKED)
/* the rules that accept the peer's FIN (system.rs `apply`) */
#define FIN_RULE(r) ((r) == R_FIN_CLOSEWAIT || (r) == R_FIN_CLOSING || (r) == R_FW1_TW || (r) == R_FW2_TW)

/* ------------------------------------------------------------------ the state */

/* endpoint.rs `Tcb<u8, u16>`, one array element per side (CLIENT, SERVER). Fields that are
   constant for these stacks are left out: role (fixed by the index), read_closed (only
   close() sets it; applications here call shutdown()), ts_recent (None without
   timestamps). ts_clock is kept: it counts openings even without timestamps, and it is
   part of the Rust state. Initial values: Tcb::established(CLIENT_ISS 10, SERVER_ISS 100). */
byte st[2]      = { EST, EST };
byte iss[2]     = { 10, 100 };
byte una[2]     = { 11, 101 };
byte nxt[2]     = { 11, 101 };
byte rcv[2]     = { 101, 11 };
byte timer[2]   = { NOTIMER, NOTIMER };    /* relative deadline in ticks */
byte retries[2];
byte tsclk[2];
byte inc[2]     = { 1, 1 };                /* ghost incarnation */

/* system.rs `App` */
byte written[2];
bit  closed[2];
byte delivered[2];
byte wbefore[2];

/* system.rs `network`: the same vector layout: the FIFO of prompt segments to side 0, the
   FIFO to side 1, then the late ones sorted. The counts are redundant (functions of the
   vector), so they add no states. Unused slots are 0. */
int  net[NCAP];
byte nf[2];                     /* prompt segments to side 0, to side 1 */
byte nl;                        /* late segments */

byte losses = LOSSES;
byte dups = DUPS;
byte delays = DELAYS;
byte flags;
byte witness;
byte ackx;                      /* ack_exchange */

/* scratch, not part of the state vector */
hidden byte sd, pr;             /* the side that steps, its peer */
hidden int  seg, out, x, k, start, tmp;
hidden byte sf, ss, sa, sl, si, saf, ci;
hidden byte rule, p_st, p_inc, p_rcv, p_retries, isn_new, newest, wr, adv, dat;
hidden byte dn, opens, old, syn, fo;

/* ------------------------------------------------------------------ network helpers */

/* SystemState::send: a prompt segment joins the end of its direction's FIFO */
inline net_send(to, s) {
    assert(nf[0] + nf[1] + nl < NCAP);
    x = (to == 0 -> nf[0] : nf[0] + nf[1]);
    k = nf[0] + nf[1] + nl;
    do
    :: k > x -> net[k] = net[k - 1]; k--
    :: else -> break
    od;
    net[x] = (to << 29) | s;
    nf[to]++
}

/* Vec::remove(i) */
inline net_remove(i) {
    k = i;
    do
    :: k < NCAP - 1 -> net[k] = net[k + 1]; k++
    :: else -> break
    od;
    net[NCAP - 1] = 0
}

/* Vec::insert(i, f) right behind the original: Action::Duplicate */
inline net_dup(i) {
    assert(nf[0] + nf[1] + nl < NCAP);
    k = nf[0] + nf[1] + nl;
    do
    :: k > i -> net[k] = net[k - 1]; k--
    :: else -> break
    od
}

/* SystemState::insert_late: into the sorted late part */
inline net_insert_late(v) {
    assert(nf[0] + nf[1] + nl < NCAP && nl < LMAX);
    k = nf[0] + nf[1] + nl;
    do
    :: k > nf[0] + nf[1] && net[k - 1] > v -> net[k] = net[k - 1]; k--
    :: else -> break
    od;
    net[k] = v;
    nl++
}

/* ------------------------------------------------------------------ endpoint.rs */

inline decode(s) {
    sf = FLAGS(s); ss = (s >> 14) & 255; sa = (s >> 6) & 255;
    sl = (s >> 3) & 7; si = (s >> 1) & 3; saf = s & 1
}
#define HAS(f)  ((sf & (f)) == (f))
#define SEGLEN  (sl + (HAS(F_SYN) -> 1 : 0) + (HAS(F_FIN) -> 1 : 0))   /* Segment::seg_len */
#define SEGEND  MOD(ss + SEGLEN)                                      /* Segment::end */

/* Tcb::delete */
inline tcb_delete() {
    st[sd] = (sd == CLIENT -> CLOSED : LISTEN); timer[sd] = NOTIMER; retries[sd] = 0
}
/* Tcb::arm_retransmit (now = 0: deadlines are relative) */
inline arm_retransmit() {
    if
    :: timer[sd] == NOTIMER -> retries[sd] = 0; timer[sd] = RTO_TICKS
    :: else -> skip
    fi
}
/* Tcb::enter_time_wait */
inline enter_time_wait() {
    st[sd] = TIMEWAIT; timer[sd] = TW_TICKS; retries[sd] = 0
}
/* Tcb::ack_now: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> */
inline ack_now() {
    out = MKSEG(F_ACK, nxt[sd], rcv[sd], 0, ci, 0)
}
/* Tcb::reset_for: the RST of an endpoint without a TCB for the segment (§3.10.7.1) */
inline reset_for() {
    if
    :: HAS(F_ACK) -> out = MKSEG(F_RST, sa, 0, 0, ci, (HAS(F_FIN) -> 1 : 0))
    :: else -> out = MKSEG(F_RST | F_ACK, 0, SEGEND, 0, ci, (HAS(F_FIN) -> 1 : 0))
    fi
}

/* Tcb::on_timer (now = 0) */
inline on_timer() {
    if
    :: st[sd] == TIMEWAIT -> tcb_delete(); rule = R_TW_EXPIRED
    :: st[sd] == FW2 -> assert(false)   /* FinWait2Timeout: no FIN-WAIT-2 timer here */
    :: else ->
        fo = FIN_OUTSTANDING(st[sd]);
        if
        :: retries[sd] >= MAX_RETRIES -> tcb_delete(); rule = R_RTO_GIVEUP
        :: else ->
            /* fin_retransmit: resend everything unacknowledged (go-back-N from SND.UNA) */
            syn = (una[sd] == iss[sd]);
            tmp = DIST(nxt[sd], una[sd]);
            tmp = (tmp > 0 -> tmp : 0) - syn - fo;
            x = (st[sd] == SYNSENT -> F_SYN : F_ACK) | (syn -> F_SYN : 0) | (fo -> F_FIN : 0);
            out = MKSEG(x, una[sd], (st[sd] == SYNSENT -> 0 : rcv[sd]),
                        (tmp > 0 -> tmp : 0), inc[sd], 0);
            retries[sd]++;
            timer[sd] = RTO_TICKS << retries[sd];    /* rto.backed_off(retries) */
            rule = R_RTO_RETRANSMIT
        fi
    fi
}

/* Tcb::open_passive: a SYN creates a connection in SYN-RECEIVED */
inline open_passive() {
    st[sd] = SYNRCVD; iss[sd] = isn_new; una[sd] = isn_new; nxt[sd] = MOD(isn_new + 1);
    rcv[sd] = MOD(ss + 1); timer[sd] = NOTIMER; arm_retransmit();
    tsclk[sd]++; inc[sd] = ci;
    out = MKSEG(F_SYN | F_ACK, isn_new, rcv[sd], 0, ci, 0);
    rule = R_LISTEN_SYN_ACCEPTED
}

/* Tcb::syn_sent (RFC 9293 §3.10.7.3) */
inline syn_sent() {
    x = (HAS(F_ACK) && AFTER(sa, iss[sd]) && AT_OR_BEFORE(sa, nxt[sd]));   /* ack_ok */
    if
    :: HAS(F_ACK) && !x ->
        if
        :: HAS(F_RST) -> rule = R_SYNSENT_DROPPED
        :: else -> reset_for(); rule = R_SYNSENT_BADACK_RESET
        fi
    :: HAS(F_RST) && (!HAS(F_ACK) || x) ->
        if
        :: x -> tcb_delete(); rule = R_SYNSENT_RESET
        :: else -> rule = R_SYNSENT_DROPPED
        fi
    :: HAS(F_SYN) && x && !HAS(F_RST) ->
        una[sd] = sa; rcv[sd] = MOD(ss + 1); st[sd] = EST; timer[sd] = NOTIMER; retries[sd] = 0;
        if
        :: una[sd] != nxt[sd] -> arm_retransmit()
        :: else -> skip
        fi;
        ack_now(); rule = R_SYNSENT_ESTABLISHED
    :: else -> rule = R_SYNSENT_DROPPED
    fi
}

/* Tcb::synchronized (RFC 9293 §3.10.7.4). SynInTimeWait::AsSynchronized, no PAWS,
   RstCheck::InWindow, SynCheck::InWindowReset. `dn` stands for an early `return`. */
inline synchronized() {
    dn = 0;
    /* first check: sequence number (Tcb::acceptable, WINDOW 8) */
    start = DIST(ss, rcv[sd]);
    tmp = SEGLEN;
    if
    :: (tmp == 0 && start >= 0 && start < WND) ||
       (tmp > 0 && ((start >= 0 && start < WND) || (start + tmp - 1 >= 0 && start + tmp - 1 < WND))) -> skip
    :: else ->
        if
        :: HAS(F_RST) -> rule = R_SEQ_UNACC_RST_DROPPED
        :: TW_RESTART && !HAS(F_RST) && st[sd] == TIMEWAIT && HAS(F_FIN) &&
           PEER_FIN_RCVD(st[sd]) && SEGEND == rcv[sd] ->      /* is_retransmitted_fin */
            timer[sd] = TW_TICKS; ack_now(); rule = R_TW_FIN_REACKED
        :: else -> ack_now(); rule = R_SEQ_UNACC_ACK
        fi;
        dn = 1
    fi;
    /* second check: RST */
    if
    :: !dn && HAS(F_RST) ->
        if
        :: st[sd] == TIMEWAIT && TW_RST_IGNORED -> rule = R_RST_IGNORED_TW
        :: st[sd] == TIMEWAIT && !TW_RST_IGNORED -> tcb_delete(); rule = R_RST_CLOSES_TW
        :: else -> tcb_delete(); rule = R_RST_RESETS
        fi;
        dn = 1
    :: else -> skip
    fi;
    /* fourth check: SYN (RFC 793: in-window SYN resets) */
    if
    :: !dn && HAS(F_SYN) ->
        out = MKSEG(F_RST, nxt[sd], 0, 0, ci, 0); tcb_delete(); rule = R_SYN_INWINDOW_RESET; dn = 1
    :: else -> skip
    fi;
    /* fifth check: ACK */
    if
    :: !dn && !HAS(F_ACK) -> rule = R_ACK_BIT_OFF; dn = 1
    :: else -> skip
    fi;
    if
    :: !dn ->
        rule = R_ACK_DUPLICATE;
        if
        :: st[sd] == SYNRCVD ->
            if
            :: AFTER(sa, una[sd]) && AT_OR_BEFORE(sa, nxt[sd]) -> st[sd] = EST; rule = R_SYNRCVD_ESTABLISHED
            :: else -> reset_for(); rule = R_SYNRCVD_BADACK_RESET; dn = 1
            fi
        :: else -> skip
        fi
    :: else -> skip
    fi;
    if
    :: !dn && AFTER(sa, nxt[sd]) -> ack_now(); rule = R_ACK_UNSENT; dn = 1
    :: else -> skip
    fi;
    if
    :: !dn ->
        if
        :: AFTER(sa, una[sd]) ->
            una[sd] = sa; retries[sd] = 0; timer[sd] = NOTIMER;
            if
            :: una[sd] != nxt[sd] -> arm_retransmit()
            :: else -> skip
            fi;
            if
            :: rule == R_ACK_DUPLICATE -> rule = R_ACK_ADVANCES
            :: else -> skip
            fi
        :: else -> skip
        fi;
        if
        :: st[sd] == FW1 && una[sd] == nxt[sd] ->
            /* no FIN-WAIT-2 timeout (and read_closed is false): timer None */
            st[sd] = FW2; timer[sd] = NOTIMER; rule = R_FW1_FIN_ACKED
        :: st[sd] == CLOSING ->
            if
            :: una[sd] == nxt[sd] -> enter_time_wait(); rule = R_CLOSING_FIN_ACKED
            :: else -> skip
            fi;
            dn = 1
        :: st[sd] == LASTACK && una[sd] == nxt[sd] -> tcb_delete(); rule = R_LASTACK_FIN_ACKED; dn = 1
        :: st[sd] == TIMEWAIT -> rule = R_TW_SEG_IGNORED; dn = 1
        :: else -> skip
        fi
    :: else -> skip
    fi;
    /* seventh check: text */
    if
    :: !dn && sl > 0 ->
        if
        :: st[sd] == EST || st[sd] == FW1 || st[sd] == FW2 ->
            if
            :: DIST(rcv[sd], ss) < 0 -> ack_now(); rule = R_DATA_OOO; dn = 1
            :: else -> rcv[sd] = MOD(ss + sl); rule = R_DATA_DELIVERED; ack_now()
            fi
        :: else -> out = NOSEG; rule = R_DATA_AFTER_FIN_IGNORED; dn = 1
        fi
    :: else -> skip
    fi;
    /* eighth check: FIN */
    if
    :: !dn && HAS(F_FIN) && !PEER_FIN_RCVD(st[sd]) ->
        if
        :: MOD(ss + sl) != rcv[sd] -> ack_now(); rule = R_DATA_OOO
        :: else ->
            rcv[sd] = MOD(rcv[sd] + 1);
            if
            :: st[sd] == EST -> st[sd] = CLOSEWAIT; rule = R_FIN_CLOSEWAIT
            :: st[sd] == FW1 && una[sd] == nxt[sd] -> enter_time_wait(); rule = R_FW1_TW
            :: st[sd] == FW1 && una[sd] != nxt[sd] -> st[sd] = CLOSING; rule = R_FIN_CLOSING
            :: st[sd] == FW2 && p_st == FW1 -> enter_time_wait(); rule = R_FW1_TW
            :: st[sd] == FW2 && p_st != FW1 -> enter_time_wait(); rule = R_FW2_TW
            :: else -> skip
            fi;
            ack_now()
        fi
    :: else -> skip
    fi
}

/* Tcb::on_segment: dispatch on the state; ci = the newer of the two incarnations */
inline on_segment() {
    ci = (inc[sd] > si -> inc[sd] : si);
    if
    :: st[sd] == CLOSED ->                                  /* Tcb::closed */
        if
        :: HAS(F_RST) -> rule = R_CLOSED_RST_DROPPED
        :: else -> reset_for(); rule = R_CLOSED_RESET
        fi
    :: st[sd] == LISTEN ->                                  /* Tcb::listen */
        if
        :: HAS(F_RST) -> rule = R_LISTEN_DROPPED
        :: !HAS(F_RST) && HAS(F_ACK) -> reset_for(); rule = R_LISTEN_ACK_RESET
        :: !HAS(F_RST) && !HAS(F_ACK) && HAS(F_SYN) -> open_passive()
        :: else -> rule = R_LISTEN_DROPPED
        fi
    :: st[sd] == SYNSENT -> syn_sent()
    :: else -> synchronized()
    fi
}

/* ------------------------------------------------------------------ system.rs */

/* TeardownModel::apply: properties' ghost bookkeeping, witnesses, then send `out`.
   Called with the new TCB already in place (post) and p_* holding the old one (pre). */
inline apply(arrived) {
    witness = 0;
    if
    :: arrived && ANSWERS_REJECTED(rule) -> ackx = (ackx < 255 -> ackx + 1 : 255)
    :: else -> ackx = 0
    fi;
    if
    :: arrived ->
        newest = (p_inc > inc[pr] -> p_inc : inc[pr]);
        opens = (rule == R_LISTEN_SYN_ACCEPTED);
        old = (si < p_inc);
        if
        :: ACCEPTS(rule) && (si < inc[sd] || (opens && si < newest)) -> flags = flags | FL_OLD_ACC
        :: else -> skip
        fi;
        if
        :: old && SYNCHRONIZED(p_st) -> flags = flags | FL_OLD_DEL
        :: else -> skip
        fi;
        /* Hazard::of_arrival == FinAnsweredByRst */
        if
        :: (p_st == LASTACK || p_st == CLOSING) && HAS(F_RST) && saf && rule == R_RST_RESETS ->
            flags = flags | FL_FIN_RST
        :: else -> skip
        fi;
        /* octets delivered in order: RCV.NXT's advance, less the FIN */
        if
        :: SYNCHRONIZED(p_st) && SYNCHRONIZED(st[sd]) && !opens ->
            adv = MOD(rcv[sd] - p_rcv);
            if
            :: si == inc[sd] -> dat = (adv > FIN_RULE(rule) -> adv - FIN_RULE(rule) : 0)
            :: else -> dat = 0
            fi;
            delivered[sd] = (delivered[sd] + dat > 255 -> 255 : delivered[sd] + dat);
            if
            :: dat > 0 && (p_st == FW1 || p_st == FW2) -> witness = W_HALF_CLOSE
            :: else -> skip
            fi
        :: else -> skip
        fi;
        if
        :: FIN_RULE(rule) ->
            if
            :: si == inc[pr] -> wr = written[pr]
            :: si != inc[pr] && si + 1 == inc[pr] -> wr = wbefore[pr]
            :: else -> wr = 0
            fi;
            if
            :: delivered[sd] != wr * DATA_LEN -> flags = flags | FL_DATA_LOST
            :: else -> skip
            fi
        :: else -> skip
        fi;
        if
        :: rule == R_SEQ_UNACC_ACK && !old && (sl > 0 || HAS(F_FIN)) && p_st != TIMEWAIT ->
            witness = W_OLD_DUP_WINDOW
        :: else -> skip
        fi;
        if
        :: rule == R_LASTACK_FIN_ACKED && p_retries > 0 && st[pr] == TIMEWAIT && losses < LOSSES ->
            witness = W_LOST_FINAL_ACK
        :: else -> skip
        fi
    :: else -> skip
    fi;
    if
    :: rule == R_RTO_GIVEUP && FIN_OUTSTANDING(p_st) -> flags = flags | FL_GAVE_UP
    :: rule == R_FIN_CLOSING -> witness = W_SIMULTANEOUS
    :: rule == R_FW1_TW -> witness = W_FW1_TW
    :: rule == R_TW_FIN_REACKED -> witness = W_TW_RESTART
    :: rule == R_RST_CLOSES_TW -> witness = W_ASSASSINATED
    :: (rule == R_SYNSENT_ESTABLISHED || rule == R_SYNRCVD_ESTABLISHED) && inc[sd] >= 2 ->
        witness = W_NEW_INC
    :: else -> skip
    fi;
    /* a new incarnation starts with a fresh application */
    if
    :: rule == R_APP_CONNECT || rule == R_LISTEN_SYN_ACCEPTED ->
        wbefore[sd] = written[sd]; written[sd] = 0; closed[sd] = 0; delivered[sd] = 0
    :: else -> skip
    fi;
    if
    :: out != NOSEG -> net_send(pr, out)
    :: else -> skip
    fi
}

/* remember the TCB before the step (`pre` in apply) */
inline pre() {
    pr = 1 - sd; p_st = st[sd]; p_inc = inc[sd]; p_rcv = rcv[sd]; p_retries = retries[sd];
    out = NOSEG; rule = 0
}

/* ------------------------------------------------------------------ properties */

#if PROPS & 1
#define P1 assert((flags & FL_FIN_DROPPED) != 0 || (flags & (FL_FIN_RST | FL_GAVE_UP)) == 0)
#else
#define P1 skip
#endif
#if PROPS & 2
#define P2 assert((flags & FL_OLD_ACC) == 0)
#else
#define P2 skip
#endif
#if PROPS & 4
#define P3 assert((flags & FL_OLD_DEL) == 0)
#else
#define P3 skip
#endif
#if PROPS & 8
#define P4 assert((flags & FL_DATA_LOST) == 0)
#else
#define P4 skip
#endif
#if PROPS & 16
#define P5 assert(ackx < ACKX_LIMIT)
#else
#define P5 skip
#endif

#ifdef DUMP
inline dump() {
    printf("S %d %d %d %d %d %d %d %d %d ", st[0], iss[0], una[0], nxt[0], rcv[0], timer[0], retries[0], tsclk[0], inc[0]);
    printf("%d %d %d %d %d %d %d %d %d ", st[1], iss[1], una[1], nxt[1], rcv[1], timer[1], retries[1], tsclk[1], inc[1]);
    printf("%d %d %d %d %d %d %d %d ", written[0], closed[0], delivered[0], wbefore[0], written[1], closed[1], delivered[1], wbefore[1]);
    printf("%d %d %d %d %d %d ", net[0], net[1], net[2], net[3], net[4], net[5]);
    printf("%d %d %d %d %d %d\n", losses, dups, delays, flags, witness, ackx)
}
#define CHECK assert(nl <= LMAX); P1; P2; P3; P4; P5; dump()
#else
#define CHECK assert(nl <= LMAX); P1; P2; P3; P4; P5
#endif

/* ------------------------------------------------------------------ actions */

/* TeardownModel::actions: nothing is enabled after an endless ACK exchange */
#define LIVE (ackx < ACKX_LIMIT)
/* the last incarnation only opens (no application calls) */
#define APP_OK(s) (!(INCARNATIONS > 1 && inc[s] >= INCARNATIONS))

/* Action::Timeout(side) */
inline do_timeout(s) {
    sd = s; pre(); on_timer(); apply(0)
}
/* Action::App(side, Send): Tcb::on_app(Send) */
inline do_send(s) {
    sd = s; pre();
    out = MKSEG(F_ACK, nxt[sd], rcv[sd], DATA_LEN, inc[sd], 0);
    nxt[sd] = MOD(nxt[sd] + DATA_LEN); arm_retransmit(); rule = R_APP_SEND;
    apply(0);
    written[sd]++
}
/* Action::App(side, Shutdown): Tcb::on_app(Shutdown) */
inline do_shutdown(s) {
    sd = s; pre();
    out = MKSEG(F_FIN | F_ACK, nxt[sd], rcv[sd], 0, inc[sd], 0);
    nxt[sd] = MOD(nxt[sd] + 1); arm_retransmit();
    if
    :: st[sd] == CLOSEWAIT -> st[sd] = LASTACK; rule = R_APP_CLOSE_LASTACK
    :: else -> st[sd] = FW1; rule = R_APP_CLOSE_FW1
    fi;
    apply(0);
    closed[sd] = 1
}
/* Tcb::isn_candidates: the first candidate lies ISN_GAP above the old SND.NXT; with
   IsnPolicy::Arbitrary the old ISS is a second one unless it is the same number */
#define ABOVE(s)        MOD(nxt[s] + ISN_GAP)
#define HAS_ALT_ISN(s)  (ISN_ARBITRARY && iss[s] != ABOVE(s))

/* Action::App(CLIENT, Connect { alt }): Tcb::on_app(Connect) with ISN candidate `alt` */
inline do_connect(alt) {
    sd = CLIENT; pre();
    isn_new = (alt -> iss[sd] : ABOVE(sd));
    st[sd] = SYNSENT; iss[sd] = isn_new; una[sd] = isn_new; nxt[sd] = MOD(isn_new + 1);
    timer[sd] = NOTIMER; arm_retransmit(); tsclk[sd]++; inc[sd]++;
    out = MKSEG(F_SYN, isn_new, 0, 0, inc[sd], 0);
    rule = R_APP_CONNECT;
    apply(0)
}
/* Action::Deliver(i, alt), after the segment was taken out of the vector: `alt` uses the
   second ISN candidate if the segment opens a connection */
inline deliver(alt) {
    decode(seg); pre();
    isn_new = (alt -> iss[sd] : ABOVE(sd));
    on_segment();
    apply(1)
}
/* Action::Drop(i) */
inline drop(i) {
    losses--;
    if
    :: (FLAGS(net[i]) & F_FIN) != 0 -> flags = flags | FL_FIN_DROPPED
    :: else -> skip
    fi;
    net_remove(i); witness = 0; ackx = 0
}
/* Action::Duplicate(i): the copy travels right behind the original */
inline duplicate(i, cnt) {
    dups--; net_dup(i); cnt++; witness = 0; ackx = 0
}

/* per network position: FIFO heads (movable), late segments (movable unless an identical
   copy precedes them: same successors, system.rs `actions`) */
#define HEAD0 0
#define HEAD1 nf[0]
#define LATE(j) (nf[0] + nf[1] + (j))
/* Deliver(i, true) is offered for a SYN without ACK when the receiver has two ISN
   candidates, and is a transition only if the segment opens a connection (LISTEN, no RST) */
#define ALT_OPENS(i, to) (HAS_ALT_ISN(to) && st[to] == LISTEN && \
    (FLAGS(net[i]) & (F_SYN | F_ACK | F_RST)) == F_SYN)
#define CAN_LATE(j) (LIVE && nl > (j) && ((j) == 0 || net[LATE(j) - 1] != net[LATE(j)]))

#define LATE_ACTIONS(j) \
    :: d_step { CAN_LATE(j) -> seg = net[LATE(j)] & SEGMASK; sd = TO(net[LATE(j)]); \
                net_remove(LATE(j)); nl--; deliver(0); CHECK } \
    :: d_step { CAN_LATE(j) && ALT_OPENS(LATE(j), TO(net[LATE(j)])) -> seg = net[LATE(j)] & SEGMASK; \
                sd = TO(net[LATE(j)]); net_remove(LATE(j)); nl--; deliver(1); CHECK } \
    :: d_step { CAN_LATE(j) && losses > 0 -> drop(LATE(j)); nl--; CHECK } \
    :: d_step { CAN_LATE(j) && dups > 0 -> duplicate(LATE(j), nl); CHECK }

/* TeardownModel::tick_enabled: something pending, no timer due, no segment about to reach
   MSL, the client not about to reconnect, everything in flight late (so late = net[0..]) */
#define AGE_OK(j) (nl <= (j) || AGE(net[j]) + 1 < MSL_TICKS)
#define CLIENT_MAY_CONNECT (st[CLIENT] == CLOSED && inc[CLIENT] < INCARNATIONS)
#define TICK_ENABLED (LIVE && nf[0] == 0 && nf[1] == 0 && \
    (nl > 0 || timer[0] != NOTIMER || timer[1] != NOTIMER) && timer[0] != 0 && timer[1] != 0 && \
    !CLIENT_MAY_CONNECT && AGE_OK(0) && AGE_OK(1) && AGE_OK(2) && (LMAX <= 3 || AGE_OK(3)))

#ifdef LIVENESS
/* system.rs P_BOTH_CLOSED ("eventually both endpoints reach CLOSED"): on every maximal
   execution, the client has opened its last incarnation and both ends are CLOSED/LISTEN, or
   (with several incarnations) both ESTABLISHED in the last one. The graph is acyclic, so
   Spin's stutter-extended finite runs give stateright's `eventually`. Check with pan -a,
   without -DSAFETY. */
#define ENDED(s)  (st[s] == CLOSED || st[s] == LISTEN)
#define OPENED(s) (st[s] == EST && inc[s] >= INCARNATIONS)
ltl both_closed { <> (inc[CLIENT] >= INCARNATIONS &&
                      ((ENDED(0) && ENDED(1)) || (INCARNATIONS > 1 && OPENED(0) && OPENED(1)))) }
#endif

active proctype system()
{
end:
    do
    /* side 0 (client) */
    :: d_step { LIVE && timer[0] == 0 -> do_timeout(0); CHECK }
    :: d_step { LIVE && APP_OK(0) && (st[0] == EST || st[0] == CLOSEWAIT) && written[0] < DATA &&
                !closed[0] -> do_send(0); CHECK }
    :: d_step { LIVE && APP_OK(0) && (st[0] == EST || st[0] == CLOSEWAIT) && written[0] >= DATA &&
                !closed[0] -> do_shutdown(0); CHECK }
    /* side 1 (server) */
    :: d_step { LIVE && timer[1] == 0 -> do_timeout(1); CHECK }
    :: d_step { LIVE && APP_OK(1) && (st[1] == EST || st[1] == CLOSEWAIT) && written[1] < DATA &&
                !closed[1] -> do_send(1); CHECK }
    :: d_step { LIVE && APP_OK(1) && (st[1] == EST || st[1] == CLOSEWAIT) && written[1] >= DATA &&
                !closed[1] -> do_shutdown(1); CHECK }
    /* the client reopens the 4-tuple */
    :: d_step { LIVE && CLIENT_MAY_CONNECT -> do_connect(0); CHECK }
    :: d_step { LIVE && CLIENT_MAY_CONNECT && HAS_ALT_ISN(CLIENT) -> do_connect(1); CHECK }
    /* the head of the FIFO to side 0 */
    :: d_step { LIVE && nf[0] > 0 -> seg = net[HEAD0] & SEGMASK; sd = 0; net_remove(HEAD0); nf[0]--;
                deliver(0); CHECK }
    :: d_step { LIVE && nf[0] > 0 && ALT_OPENS(HEAD0, 0) -> seg = net[HEAD0] & SEGMASK; sd = 0;
                net_remove(HEAD0); nf[0]--; deliver(1); CHECK }
    :: d_step { LIVE && nf[0] > 0 && losses > 0 -> drop(HEAD0); nf[0]--; CHECK }
    :: d_step { LIVE && nf[0] > 0 && dups > 0 -> duplicate(HEAD0, nf[0]); CHECK }
    :: d_step { LIVE && nf[0] > 0 && delays > 0 -> delays--; x = net[HEAD0] | LATEBIT; net_remove(HEAD0);
                nf[0]--; net_insert_late(x); witness = 0; CHECK }
    /* the head of the FIFO to side 1 */
    :: d_step { LIVE && nf[1] > 0 -> seg = net[HEAD1] & SEGMASK; sd = 1; net_remove(HEAD1); nf[1]--;
                deliver(0); CHECK }
    :: d_step { LIVE && nf[1] > 0 && ALT_OPENS(HEAD1, 1) -> seg = net[HEAD1] & SEGMASK; sd = 1;
                net_remove(HEAD1); nf[1]--; deliver(1); CHECK }
    :: d_step { LIVE && nf[1] > 0 && losses > 0 -> drop(HEAD1); nf[1]--; CHECK }
    :: d_step { LIVE && nf[1] > 0 && dups > 0 -> duplicate(HEAD1, nf[1]); CHECK }
    :: d_step { LIVE && nf[1] > 0 && delays > 0 -> delays--; x = net[HEAD1] | LATEBIT; net_remove(HEAD1);
                nf[1]--; net_insert_late(x); witness = 0; CHECK }
    /* late segments */
    LATE_ACTIONS(0)
    LATE_ACTIONS(1)
    LATE_ACTIONS(2)
#if LMAX > 3
    LATE_ACTIONS(3)
#endif
    /* Action::Tick: every segment ages, every timer counts down */
    :: d_step { TICK_ENABLED ->
                k = 0;
                do
                :: k < nl -> net[k] = net[k] + AGE1; k++
                :: else -> break
                od;
                timer[0] = (timer[0] == NOTIMER -> NOTIMER : timer[0] - 1);
                timer[1] = (timer[1] == NOTIMER -> NOTIMER : timer[1] - 1);
                witness = 0; ackx = 0; CHECK }
    od
}
