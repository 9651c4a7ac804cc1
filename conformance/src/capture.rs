//! Reading pcap and pcapng captures, streamed.
//!
//! [`read_capture`] takes any [`Read`], recognises the format by its magic number (never by
//! the file name), decompresses gzip transparently, and hands every record to a callback in
//! file order, numbered as Wireshark numbers frames. Memory stays bounded by the largest
//! record: the file is never held whole.
//!
//! Damage is an error value ([`CaptureError`]) that says what is wrong, where (byte offset,
//! record or block index) and what was expected; every record before the damage has already
//! been delivered when the error is returned.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Cursor, Read};
use std::rc::Rc;

use flate2::read::MultiGzDecoder;
use pcap_parser::pcapng::Block;
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError, PcapNGReader};
use serde::Serialize;

/// Largest pcap record accepted, in captured bytes: Wireshark's
/// `WTAP_MAX_PACKET_SIZE_STANDARD`. A record header claiming more is damage, not a packet.
pub const MAX_PCAP_RECORD: u32 = 262_144;

/// Largest pcapng block accepted, in bytes (Wireshark refuses blocks above 16 MiB too).
pub const MAX_PCAPNG_BLOCK: u32 = 16 * 1024 * 1024;

/// Initial size of the streaming buffer; it grows only for a block larger than this.
const BUFFER_CAPACITY: usize = 1 << 20;

/// pcapng block types this reader looks at before pcap-parser does.
const SHB_TYPE: u32 = 0x0A0D_0D0A;
/// Obsolete Packet Block (pcapng draft, block type 2): still written by old tools.
const OPB_TYPE: u32 = 0x0000_0002;

/// A link-layer header type (LINKTYPE_* of <https://www.tcpdump.org/linktypes.html>).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback, host byte order address family.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet (and 802.3 with LLC/SNAP).
    pub const ETHERNET: LinkType = LinkType(1);
    /// FDDI (ANSI X3T9.5).
    pub const FDDI: LinkType = LinkType(10);
    /// Raw IP as written on most BSDs before LINKTYPE_RAW existed.
    pub const RAW_BSD: LinkType = LinkType(12);
    /// Raw IP as written on OpenBSD before LINKTYPE_RAW existed.
    pub const RAW_OPENBSD: LinkType = LinkType(14);
    /// Raw IP, version from the first nibble.
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback, network byte order address family.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// ARCnet with the Linux header.
    pub const ARCNET_LINUX: LinkType = LinkType(129);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux netfilter NFLOG messages.
    pub const NFLOG: LinkType = LinkType(239);
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// The tcpdump name of the link type (`EN10MB`, `LINUX_SLL`, …), or `UNKNOWN`.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "NULL",
            1 => "EN10MB",
            3 => "AX25",
            6 => "IEEE802_5",
            7 => "ARCNET_BSD",
            8 => "SLIP",
            9 => "PPP",
            10 => "FDDI",
            12 | 14 | 101 => "RAW",
            50 => "PPP_HDLC",
            51 => "PPP_ETHER",
            104 => "C_HDLC",
            105 => "IEEE802_11",
            107 => "FRELAY",
            108 => "LOOP",
            113 => "LINUX_SLL",
            117 => "PFLOG",
            119 => "PRISM_HEADER",
            122 => "IP_OVER_FC",
            127 => "IEEE802_11_RADIOTAP",
            129 => "ARCNET_LINUX",
            147..=162 => "USER",
            163 => "IEEE802_11_AVS",
            187 => "BLUETOOTH_HCI_H4",
            189 => "USB_LINUX",
            192 => "PPI",
            195 => "IEEE802_15_4",
            201 => "BLUETOOTH_HCI_H4_WITH_PHDR",
            204 => "PPP_PPPD",
            220 => "USB_LINUX_MMAPPED",
            227 => "CAN_SOCKETCAN",
            228 => "IPV4",
            229 => "IPV6",
            239 => "NFLOG",
            249 => "USBPCAP",
            252 => "WIRESHARK_UPPER_PDU",
            274 => "ETHERNET_MPACKET",
            276 => "LINUX_SLL2",
            _ => "UNKNOWN",
        }
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// The container format, as recognised from the magic number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "container")]
pub enum CaptureFormat {
    /// Classic libpcap format.
    Pcap {
        /// Header fields are big-endian.
        big_endian: bool,
        /// Timestamps carry nanoseconds (magic `a1b23c4d`), else microseconds.
        nanosecond: bool,
        /// Kuznetzov's "modified" pcap with 24-byte record headers.
        modified: bool,
        /// Wrapped in gzip.
        gzip: bool,
    },
    /// pcapng (sections, interfaces, blocks).
    PcapNg {
        /// Wrapped in gzip.
        gzip: bool,
    },
}

impl fmt::Display for CaptureFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureFormat::Pcap {
                big_endian,
                nanosecond,
                modified,
                gzip,
            } => {
                let gz = if *gzip { "gzip " } else { "" };
                let order = if *big_endian { "BE" } else { "LE" };
                let res = if *nanosecond { "ns" } else { "us" };
                let m = if *modified { " modified" } else { "" };
                write!(f, "{gz}pcap {order} {res}{m}")
            }
            CaptureFormat::PcapNg { gzip } => {
                write!(f, "{}pcapng", if *gzip { "gzip " } else { "" })
            }
        }
    }
}

/// One packet record, as Wireshark shows it as a frame.
#[derive(Debug)]
pub struct Frame<'a> {
    /// Frame number: 1-based, counted across all interfaces and sections, exactly as
    /// Wireshark's `frame.number`.
    pub number: u64,
    /// Capture time in nanoseconds since the Unix epoch (pcap: µs or ns by magic;
    /// pcapng: the interface's `if_tsresol` and `if_tsoffset`).
    pub timestamp_ns: i64,
    /// pcapng section, 0-based (always 0 for pcap).
    pub section: u32,
    /// Interface id within its section, as Wireshark's `frame.interface_id` shows it
    /// (always 0 for pcap).
    pub interface: u32,
    /// Link-layer header type of the interface.
    pub link_type: LinkType,
    /// Length of the packet on the wire.
    pub original_len: u32,
    /// The captured bytes (at most the snapshot length).
    pub data: &'a [u8],
}

/// A record of the capture, in file order.
#[derive(Debug)]
pub enum Record<'a> {
    /// A packet.
    Packet(Frame<'a>),
    /// A record that Wireshark numbers as a frame but that carries no packet
    /// (a pcapng systemd journal entry). Counted so that frame numbers stay Wireshark's.
    NonPacket {
        /// Frame number, as for packets.
        number: u64,
        /// What it is.
        what: &'static str,
    },
}

/// Which part of the file an error is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "unit", content = "index")]
pub enum ErrorUnit {
    /// The file as a whole (empty, unknown magic, read failure).
    File,
    /// The pcap global header or the first pcapng section header block.
    FileHeader,
    /// A pcap record, 1-based (equal to its frame number).
    Record(u64),
    /// A pcapng block, 1-based, counting every block of the file.
    Block(u64),
}

impl fmt::Display for ErrorUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorUnit::File => write!(f, "file"),
            ErrorUnit::FileHeader => write!(f, "file header"),
            ErrorUnit::Record(n) => write!(f, "record {n}"),
            ErrorUnit::Block(n) => write!(f, "block {n}"),
        }
    }
}

/// What is wrong with a capture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CaptureErrorKind {
    /// Zero bytes.
    #[error("empty file: expected a pcap or pcapng magic number")]
    Empty,
    /// The first four bytes are no known magic number.
    #[error(
        "unknown magic number {magic}: expected pcap (a1b2c3d4, a1b23c4d, either byte order), \
         pcapng (0a0d0d0a) or gzip (1f8b)"
    )]
    UnknownMagic {
        /// The bytes found, in hex.
        magic: String,
    },
    /// A header ends before its fixed part does.
    #[error("truncated {what}: the file ends after {have} of its {need} bytes")]
    TruncatedHeader {
        /// Which header.
        what: &'static str,
        /// Bytes present.
        have: u64,
        /// Bytes a complete header has.
        need: u64,
    },
    /// A record or block declares more bytes than the file still holds.
    #[error("{what} declares {declared} bytes but the file ends after {available}")]
    BeyondEndOfFile {
        /// "record" or "block".
        what: &'static str,
        /// Length from the header (for a record: header plus captured bytes).
        declared: u64,
        /// Bytes left in the file from the start of the record or block.
        available: u64,
    },
    /// A length field larger than any real record could be.
    #[error("implausible {what} length {declared}: the limit is {limit}")]
    ImplausibleLength {
        /// Which length.
        what: &'static str,
        /// The value found.
        declared: u64,
        /// The largest accepted value.
        limit: u64,
    },
    /// A pcapng block whose total length is not a multiple of 4.
    #[error("block length {declared} is not a multiple of 4")]
    BlockLengthNotMultipleOf4 {
        /// The value found.
        declared: u32,
    },
    /// A pcapng block shorter than the 12 bytes of type and two lengths.
    #[error("block length {declared} is shorter than the {minimum}-byte minimum")]
    BlockTooShort {
        /// The value found.
        declared: u32,
        /// The minimum for this block.
        minimum: u32,
    },
    /// The trailing copy of a pcapng block length disagrees with the leading one.
    #[error("trailing block length {trailing} differs from the leading {leading}")]
    BlockLengthMismatch {
        /// Length at the start of the block.
        leading: u32,
        /// Length at the end of the block.
        trailing: u32,
    },
    /// A pcapng section header with an unknown byte-order magic.
    #[error("section header byte-order magic {bom} is neither 1a2b3c4d nor 4d3c2b1a")]
    BadByteOrderMagic {
        /// The bytes found, in hex.
        bom: String,
    },
    /// A pcapng packet block names an interface its section never described.
    #[error("packet on interface {interface}, but the section describes only {known}")]
    UnknownInterface {
        /// Interface id in the block.
        interface: u32,
        /// Interfaces described so far in the section.
        known: u32,
    },
    /// A block whose contents do not parse.
    #[error("corrupt {block} block: {detail}")]
    CorruptBlock {
        /// Block type name.
        block: String,
        /// What the parser found.
        detail: String,
    },
    /// The underlying reader or the gzip decompressor failed.
    #[error("read error: {detail}")]
    Io {
        /// The error message.
        detail: String,
    },
}

/// Damage in a capture: what, and where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("byte {offset} ({unit}): {kind}")]
pub struct CaptureError {
    /// Byte offset of the start of the damaged unit (in the decompressed stream for gzip).
    pub offset: u64,
    /// The damaged unit.
    #[serde(flatten)]
    pub unit: ErrorUnit,
    /// What is wrong.
    #[serde(flatten)]
    pub kind: CaptureErrorKind,
}

impl CaptureError {
    fn new(offset: u64, unit: ErrorUnit, kind: CaptureErrorKind) -> Self {
        CaptureError { offset, unit, kind }
    }
}

/// What reading a capture found, apart from the records themselves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CaptureOutcome {
    /// The format, when the magic number was recognised.
    pub format: Option<CaptureFormat>,
    /// pcapng sections (1 for pcap).
    pub sections: u32,
    /// Interfaces described (1 for pcap).
    pub interfaces: u32,
    /// Frames delivered (packet and non-packet records).
    pub frames: u64,
    /// Bytes of (decompressed) capture consumed without error.
    pub bytes: u64,
    /// The damage that stopped reading, if any. Records before it were delivered.
    pub error: Option<CaptureError>,
    /// The latest moment the file says the capture was still running, beyond its packets:
    /// pcapng interface statistics (their timestamp and `isb_endtime`), ns since the epoch.
    /// Silence up to it is evidence; after the last packet of a plain pcap it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_until_ns: Option<i64>,
}

/// Reads a capture from `input`, calling `on_record` for every record in file order.
///
/// Never panics on any input: a damaged file yields an outcome whose `error` says what and
/// where, after every record before the damage was delivered.
pub fn read_capture<R: Read>(input: R, mut on_record: impl FnMut(&Record<'_>)) -> CaptureOutcome {
    let mut outcome = CaptureOutcome {
        format: None,
        sections: 0,
        interfaces: 0,
        frames: 0,
        bytes: 0,
        error: None,
        running_until_ns: None,
    };
    if let Err(e) = read_into(input, &mut outcome, &mut on_record) {
        outcome.error = Some(e);
    }
    outcome
}

/// Records an I/O error of the underlying stream so that it can be reported precisely:
/// pcap-parser reduces every read failure to `ReadError` and its readers cannot be taken apart.
type IoErrorSlot = Rc<RefCell<Option<io::Error>>>;

/// A reader that fills the buffer it is given as far as the stream allows. pcap-parser
/// parses the file header from its first read, and gzip decoders return short reads, so
/// short reads would look like truncation.
struct FillingReader<'r> {
    inner: Box<dyn Read + 'r>,
    error: IoErrorSlot,
    failed: bool,
}

impl Read for FillingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Ok(0);
        }
        let mut filled = 0;
        while filled < buf.len() {
            let rest = buf.get_mut(filled..).unwrap_or_default();
            match self.inner.read(rest) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Deliver what was read; the stream ends here and the error is reported
                    // by the caller once the records before it are processed.
                    self.failed = true;
                    *self.error.borrow_mut() = Some(e);
                    break;
                }
            }
        }
        Ok(filled)
    }
}

/// Reads up to `n` bytes (fewer only at end of stream).
fn read_prefix(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        let rest = buf.get_mut(filled..).unwrap_or_default();
        match r.read(rest) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

fn io_error(offset: u64, e: &io::Error) -> CaptureError {
    CaptureError::new(
        offset,
        ErrorUnit::File,
        CaptureErrorKind::Io {
            detail: e.to_string(),
        },
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn u32_at(data: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let b: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

fn u16_at(data: &[u8], at: usize, big_endian: bool) -> Option<u16> {
    let b: [u8; 2] = data.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(if big_endian {
        u16::from_be_bytes(b)
    } else {
        u16::from_le_bytes(b)
    })
}

/// The magic numbers as they appear in the file, and what they mean.
enum Magic {
    Pcap {
        big_endian: bool,
        nanosecond: bool,
        modified: bool,
    },
    PcapNg,
}

fn recognise(magic: &[u8]) -> Option<Magic> {
    let pcap = |big_endian, nanosecond, modified| {
        Some(Magic::Pcap {
            big_endian,
            nanosecond,
            modified,
        })
    };
    match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => pcap(false, false, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => pcap(true, false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => pcap(false, true, false),
        [0xa1, 0xb2, 0x3c, 0x4d] => pcap(true, true, false),
        [0x34, 0xcd, 0xb2, 0xa1] => pcap(false, false, true),
        [0x0a, 0x0d, 0x0d, 0x0a] => Some(Magic::PcapNg),
        _ => None,
    }
}

const KNOWN_MAGICS: [[u8; 4]; 6] = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x34, 0xcd, 0xb2, 0xa1],
    [0x0a, 0x0d, 0x0d, 0x0a],
];

fn read_into<R: Read>(
    input: R,
    outcome: &mut CaptureOutcome,
    on_record: &mut dyn FnMut(&Record<'_>),
) -> Result<(), CaptureError> {
    let mut raw: Box<dyn Read + '_> = Box::new(input);
    let first = read_prefix(&mut raw, 2).map_err(|e| io_error(0, &e))?;
    if first.is_empty() {
        return Err(CaptureError::new(
            0,
            ErrorUnit::File,
            CaptureErrorKind::Empty,
        ));
    }
    // gzip is recognised by its own magic, whatever the file is called.
    let gzip = first == [0x1f, 0x8b];
    let chained = Cursor::new(first).chain(raw);
    let mut stream: Box<dyn Read + '_> = if gzip {
        Box::new(MultiGzDecoder::new(chained))
    } else {
        Box::new(chained)
    };
    let magic = read_prefix(&mut stream, 4).map_err(|e| io_error(0, &e))?;
    if magic.is_empty() {
        return Err(CaptureError::new(
            0,
            ErrorUnit::File,
            CaptureErrorKind::Empty,
        ));
    }
    let Some(kind) = recognise(&magic) else {
        let kind = if magic.len() < 4 && KNOWN_MAGICS.iter().any(|m| m.starts_with(&magic)) {
            CaptureErrorKind::TruncatedHeader {
                what: "magic number",
                have: magic.len() as u64,
                need: 4,
            }
        } else {
            CaptureErrorKind::UnknownMagic { magic: hex(&magic) }
        };
        return Err(CaptureError::new(0, ErrorUnit::File, kind));
    };
    let error_slot: IoErrorSlot = Rc::new(RefCell::new(None));
    let source = FillingReader {
        inner: Box::new(Cursor::new(magic).chain(stream)),
        error: Rc::clone(&error_slot),
        failed: false,
    };
    let result = match kind {
        Magic::Pcap {
            big_endian,
            nanosecond,
            modified,
        } => {
            outcome.format = Some(CaptureFormat::Pcap {
                big_endian,
                nanosecond,
                modified,
                gzip,
            });
            read_pcap(source, big_endian, modified, outcome, on_record)
        }
        Magic::PcapNg => {
            outcome.format = Some(CaptureFormat::PcapNg { gzip });
            read_pcapng(source, outcome, on_record)
        }
    };
    // A read failure explains whatever truncation the parser then saw.
    if let Some(e) = error_slot.borrow_mut().take() {
        return Err(io_error(outcome.bytes, &e));
    }
    result
}

fn read_pcap(
    mut source: FillingReader<'_>,
    big_endian: bool,
    modified: bool,
    outcome: &mut CaptureOutcome,
    on_record: &mut dyn FnMut(&Record<'_>),
) -> Result<(), CaptureError> {
    // Read the global header here so that a short one is reported with its exact size.
    let header = read_prefix(&mut source, 24).map_err(|e| io_error(0, &e))?;
    if header.len() < 24 {
        return Err(CaptureError::new(
            0,
            ErrorUnit::FileHeader,
            CaptureErrorKind::TruncatedHeader {
                what: "pcap global header",
                have: header.len() as u64,
                need: 24,
            },
        ));
    }
    let source = FillingReader {
        inner: Box::new(Cursor::new(header).chain(source.inner)),
        error: source.error,
        failed: source.failed,
    };
    let mut reader = LegacyPcapReader::new(BUFFER_CAPACITY, source).map_err(|e| {
        CaptureError::new(
            0,
            ErrorUnit::FileHeader,
            CaptureErrorKind::CorruptBlock {
                block: "pcap global header".into(),
                detail: e.to_string(),
            },
        )
    })?;
    outcome.sections = 1;
    outcome.interfaces = 1;
    let record_header_len: usize = if modified { 24 } else { 16 };
    let mut link_type = LinkType(0);
    let mut nanosecond = false;
    let mut record: u64 = 0;
    let mut header_seen = false;
    loop {
        let offset = reader.consumed() as u64;
        outcome.bytes = offset;
        if header_seen {
            // Make sure the whole record is buffered before pcap-parser sees it, so that every
            // way it can be incomplete is diagnosed here with sizes.
            let unit = ErrorUnit::Record(record + 1);
            loop {
                let data = reader.data();
                if data.is_empty() && reader.reader_exhausted() {
                    return Ok(());
                }
                if data.len() >= record_header_len {
                    let caplen = u32_at(data, 8, big_endian).unwrap_or(0);
                    if caplen > MAX_PCAP_RECORD {
                        return Err(CaptureError::new(
                            offset,
                            unit,
                            CaptureErrorKind::ImplausibleLength {
                                what: "record captured",
                                declared: caplen.into(),
                                limit: MAX_PCAP_RECORD.into(),
                            },
                        ));
                    }
                    let need = record_header_len + caplen as usize;
                    if data.len() >= need {
                        break;
                    }
                    if reader.reader_exhausted() {
                        return Err(CaptureError::new(
                            offset,
                            unit,
                            CaptureErrorKind::BeyondEndOfFile {
                                what: "record",
                                declared: need as u64,
                                available: data.len() as u64,
                            },
                        ));
                    }
                } else if reader.reader_exhausted() {
                    return Err(CaptureError::new(
                        offset,
                        unit,
                        CaptureErrorKind::TruncatedHeader {
                            what: "record header",
                            have: data.len() as u64,
                            need: record_header_len as u64,
                        },
                    ));
                }
                if reader.refill().is_err() {
                    return Ok(()); // the error slot holds the cause
                }
            }
        }
        match reader.next() {
            Ok((n, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        link_type = LinkType((h.network.0 as u32) & 0x03FF_FFFF);
                        nanosecond = h.is_nanosecond_precision();
                        header_seen = true;
                    }
                    PcapBlockOwned::Legacy(b) => {
                        record += 1;
                        outcome.frames = record;
                        let sub = if nanosecond {
                            i64::from(b.ts_usec)
                        } else {
                            i64::from(b.ts_usec) * 1_000
                        };
                        let timestamp_ns = i64::from(b.ts_sec) * 1_000_000_000 + sub;
                        let cap = (b.caplen as usize).min(b.data.len());
                        let frame = Frame {
                            number: record,
                            timestamp_ns,
                            section: 0,
                            interface: 0,
                            link_type,
                            original_len: b.origlen,
                            data: b.data.get(..cap).unwrap_or(b.data),
                        };
                        on_record(&Record::Packet(frame));
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                reader.consume(n);
                outcome.bytes = reader.consumed() as u64;
            }
            Err(PcapError::Eof) => return Ok(()),
            Err(e) => {
                let unit = if header_seen {
                    ErrorUnit::Record(record + 1)
                } else {
                    ErrorUnit::FileHeader
                };
                return Err(CaptureError::new(
                    offset,
                    unit,
                    CaptureErrorKind::CorruptBlock {
                        block: "pcap record".into(),
                        detail: e.to_string(),
                    },
                ));
            }
        }
    }
}

/// What a pcapng interface description says that packets need, and where it is.
#[derive(Clone, Copy, Debug)]
struct NgInterface {
    section: u32,
    local_id: u32,
    link_type: LinkType,
    snaplen: u32,
    tsresol: u8,
    tsoffset: i64,
}

/// Converts a pcapng timestamp to nanoseconds, as Wireshark does (truncating below 1 ns).
fn pcapng_ns(ticks: u64, tsresol: u8, tsoffset_s: i64) -> i64 {
    let ticks = u128::from(ticks);
    let exp = u32::from(tsresol & 0x7f);
    let ns: u128 = if tsresol & 0x80 != 0 {
        // Negative power of two.
        if exp >= 128 {
            0
        } else {
            (ticks * 1_000_000_000) >> exp
        }
    } else if exp <= 9 {
        ticks * 10u128.pow(9 - exp)
    } else {
        match 10u128.checked_pow(exp - 9) {
            Some(div) => ticks / div,
            None => 0,
        }
    };
    let ns = i128::try_from(ns).unwrap_or(i128::MAX) + i128::from(tsoffset_s) * 1_000_000_000;
    i64::try_from(ns).unwrap_or(if ns < 0 { i64::MIN } else { i64::MAX })
}

fn block_name(block_type: u32) -> String {
    match block_type {
        0x0A0D_0D0A => "section header".into(),
        0x0000_0001 => "interface description".into(),
        0x0000_0002 => "obsolete packet".into(),
        0x0000_0003 => "simple packet".into(),
        0x0000_0004 => "name resolution".into(),
        0x0000_0005 => "interface statistics".into(),
        0x0000_0006 => "enhanced packet".into(),
        0x0000_0009 => "systemd journal export".into(),
        0x0000_000A => "decryption secrets".into(),
        0x0000_0BAD | 0x4000_0BAD => "custom".into(),
        other => format!("type 0x{other:08x}"),
    }
}

fn read_pcapng(
    source: FillingReader<'_>,
    outcome: &mut CaptureOutcome,
    on_record: &mut dyn FnMut(&Record<'_>),
) -> Result<(), CaptureError> {
    let mut source = source;
    // Check the first section header here: pcap-parser only says "not recognised".
    let head = read_prefix(&mut source, 12).map_err(|e| io_error(0, &e))?;
    if head.len() < 12 {
        return Err(CaptureError::new(
            0,
            ErrorUnit::FileHeader,
            CaptureErrorKind::TruncatedHeader {
                what: "pcapng section header block",
                have: head.len() as u64,
                need: 28,
            },
        ));
    }
    let first_len = check_block_header(&head, false, 0, ErrorUnit::FileHeader)?.1;
    let capacity = BUFFER_CAPACITY.max(first_len as usize + 4096);
    let source = FillingReader {
        inner: Box::new(Cursor::new(head).chain(source.inner)),
        error: source.error,
        failed: source.failed,
    };
    let mut reader = match PcapNGReader::new(capacity, source) {
        Ok(r) => r,
        Err(e) => {
            let kind = match e {
                PcapError::Incomplete(_) | PcapError::UnexpectedEof => {
                    CaptureErrorKind::BeyondEndOfFile {
                        what: "section header block",
                        declared: first_len.into(),
                        available: 0,
                    }
                }
                other => CaptureErrorKind::CorruptBlock {
                    block: "section header".into(),
                    detail: other.to_string(),
                },
            };
            return Err(CaptureError::new(0, ErrorUnit::FileHeader, kind));
        }
    };
    let mut capacity = capacity;
    let mut big_endian = false;
    let mut interfaces: Vec<NgInterface> = Vec::new();
    let mut section: u32 = 0;
    let mut block_index: u64 = 0;
    loop {
        let offset = reader.consumed() as u64;
        outcome.bytes = offset;
        let unit = ErrorUnit::Block(block_index + 1);
        // Buffer the whole block and check its framing before pcap-parser parses it.
        let (block_type, block_len) = loop {
            let data = reader.data();
            if data.is_empty() && reader.reader_exhausted() {
                return Ok(());
            }
            if data.len() >= 12 {
                let (block_type, len) = check_block_header(data, big_endian, offset, unit.clone())?;
                let len_usize = len as usize;
                if data.len() >= len_usize {
                    let trailing =
                        u32_at(data, len_usize - 4, section_order(data, big_endian)).unwrap_or(0);
                    if trailing != len {
                        return Err(CaptureError::new(
                            offset,
                            unit,
                            CaptureErrorKind::BlockLengthMismatch {
                                leading: len,
                                trailing,
                            },
                        ));
                    }
                    break (block_type, len);
                }
                if reader.reader_exhausted() {
                    return Err(CaptureError::new(
                        offset,
                        unit,
                        CaptureErrorKind::BeyondEndOfFile {
                            what: "block",
                            declared: len.into(),
                            available: data.len() as u64,
                        },
                    ));
                }
                if len_usize + 12 > capacity {
                    let wanted = len_usize + 4096;
                    if reader.grow(wanted) {
                        capacity = wanted;
                    }
                }
            } else if reader.reader_exhausted() {
                return Err(CaptureError::new(
                    offset,
                    unit,
                    CaptureErrorKind::TruncatedHeader {
                        what: "block header",
                        have: data.len() as u64,
                        need: 12,
                    },
                ));
            }
            if reader.refill().is_err() {
                return Ok(()); // the error slot holds the cause
            }
        };
        block_index += 1;
        let corrupt = |detail: String| {
            CaptureError::new(
                offset,
                ErrorUnit::Block(block_index),
                CaptureErrorKind::CorruptBlock {
                    block: block_name(block_type),
                    detail,
                },
            )
        };
        let (n, block) = match reader.next() {
            Ok((n, PcapBlockOwned::NG(block))) => (n, block),
            Ok(_) => return Err(corrupt("not a pcapng block".into())),
            Err(e) => {
                let detail = match e {
                    // The block is fully buffered, so "incomplete" means that a length inside
                    // it points past its end.
                    PcapError::Incomplete(_)
                    | PcapError::UnexpectedEof
                    | PcapError::BufferTooSmall => {
                        format!("a length inside the {block_len}-byte block points past its end")
                    }
                    other => other.to_string(),
                };
                return Err(corrupt(detail));
            }
        };
        let mut packet: Option<(NgInterface, u64, u32, &[u8])> = None;
        let mut non_packet: Option<&'static str> = None;
        let mut pending_error: Option<CaptureError> = None;
        let lookup = |id: u32, interfaces: &[NgInterface]| {
            interfaces.get(id as usize).copied().ok_or_else(|| {
                CaptureError::new(
                    offset,
                    ErrorUnit::Block(block_index),
                    CaptureErrorKind::UnknownInterface {
                        interface: id,
                        known: interfaces.len() as u32,
                    },
                )
            })
        };
        match &block {
            Block::SectionHeader(shb) => {
                big_endian = shb.big_endian();
                section = outcome.sections;
                interfaces.clear();
                outcome.sections += 1;
            }
            Block::InterfaceDescription(idb) => {
                interfaces.push(NgInterface {
                    section,
                    local_id: interfaces.len() as u32,
                    link_type: LinkType(u32::from(idb.linktype.0 as u16)),
                    snaplen: idb.snaplen,
                    tsresol: idb.if_tsresol,
                    // pcap-parser reads if_tsoffset little-endian whatever the section.
                    tsoffset: if big_endian {
                        idb.if_tsoffset.swap_bytes()
                    } else {
                        idb.if_tsoffset
                    },
                });
                outcome.interfaces += 1;
            }
            Block::EnhancedPacket(epb) => match lookup(epb.if_id, &interfaces) {
                Ok(iface) => {
                    let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                    packet = Some((iface, ticks, epb.origlen, epb.packet_data()));
                }
                Err(e) => pending_error = Some(e),
            },
            Block::SimplePacket(spb) => match lookup(0, &interfaces) {
                Ok(iface) => {
                    // A simple packet block has no captured length: it is the original length
                    // cut to the interface's snapshot length (pcapng §4.4).
                    let mut data = spb.packet_data();
                    if iface.snaplen != 0 && data.len() > iface.snaplen as usize {
                        data = data.get(..iface.snaplen as usize).unwrap_or(data);
                    }
                    // No timestamp in a simple packet block: Wireshark shows time 0.
                    packet = Some((iface, 0, spb.origlen, data));
                }
                Err(e) => pending_error = Some(e),
            },
            Block::Unknown(ub)
                if ub.block_type == OPB_TYPE || ub.block_type == OPB_TYPE.swap_bytes() =>
            {
                match parse_obsolete_packet(ub.data, big_endian) {
                    Some((if_id, ticks, caplen, origlen, data)) => {
                        match lookup(u32::from(if_id), &interfaces) {
                            Ok(iface) => {
                                let cap = (caplen as usize).min(data.len());
                                packet =
                                    Some((iface, ticks, origlen, data.get(..cap).unwrap_or(data)));
                            }
                            Err(e) => pending_error = Some(e),
                        }
                    }
                    None => pending_error = Some(corrupt("shorter than its 20-byte header".into())),
                }
            }
            Block::SystemdJournalExport(_) => non_packet = Some("systemd journal entry"),
            Block::InterfaceStatistics(isb) => {
                // Statistics of an interface the section never described say nothing.
                if let Ok(iface) = lookup(isb.if_id, &interfaces) {
                    // pcap-parser reads option values little-endian whatever the section.
                    let fix = |v: u32| if big_endian { v.swap_bytes() } else { v };
                    let taken = (u64::from(isb.ts_high) << 32) | u64::from(isb.ts_low);
                    let end = match isb.isb_endtime() {
                        Some(Ok((high, low))) => (u64::from(fix(high)) << 32) | u64::from(fix(low)),
                        _ => 0,
                    };
                    let ticks = taken.max(end);
                    if ticks > 0 {
                        let ns = pcapng_ns(ticks, iface.tsresol, iface.tsoffset);
                        outcome.running_until_ns =
                            Some(outcome.running_until_ns.map_or(ns, |m| m.max(ns)));
                    }
                }
            }
            _ => {}
        }
        if let Some(e) = pending_error {
            return Err(e);
        }
        if let Some((iface, ticks, origlen, data)) = packet {
            outcome.frames += 1;
            let frame = Frame {
                number: outcome.frames,
                timestamp_ns: if ticks == 0 && matches!(block, Block::SimplePacket(_)) {
                    0
                } else {
                    pcapng_ns(ticks, iface.tsresol, iface.tsoffset)
                },
                section: iface.section,
                interface: iface.local_id,
                link_type: iface.link_type,
                original_len: origlen,
                data,
            };
            on_record(&Record::Packet(frame));
        } else if let Some(what) = non_packet {
            outcome.frames += 1;
            on_record(&Record::NonPacket {
                number: outcome.frames,
                what,
            });
        }
        drop(block);
        reader.consume(n);
        outcome.bytes = reader.consumed() as u64;
    }
}

/// The byte order of the block at the start of `data`: a section header carries its own.
fn section_order(data: &[u8], current_big_endian: bool) -> bool {
    if u32_at(data, 0, false) == Some(SHB_TYPE) {
        match data.get(8..12) {
            Some([0x1a, 0x2b, 0x3c, 0x4d]) => true,
            Some([0x4d, 0x3c, 0x2b, 0x1a]) => false,
            _ => current_big_endian,
        }
    } else {
        current_big_endian
    }
}

/// Checks the framing of the pcapng block at the start of `data` (at least 12 bytes):
/// returns its type and total length.
fn check_block_header(
    data: &[u8],
    big_endian: bool,
    offset: u64,
    unit: ErrorUnit,
) -> Result<(u32, u32), CaptureError> {
    let err = |kind| Err(CaptureError::new(offset, unit.clone(), kind));
    let is_shb = u32_at(data, 0, false) == Some(SHB_TYPE);
    if is_shb {
        let bom = data.get(8..12).unwrap_or_default();
        if bom != [0x1a, 0x2b, 0x3c, 0x4d] && bom != [0x4d, 0x3c, 0x2b, 0x1a] {
            return err(CaptureErrorKind::BadByteOrderMagic { bom: hex(bom) });
        }
    }
    let order = section_order(data, big_endian);
    let block_type = u32_at(data, 0, order).unwrap_or(0);
    let len = u32_at(data, 4, order).unwrap_or(0);
    let minimum = if is_shb { 28 } else { 12 };
    if len < minimum {
        return err(CaptureErrorKind::BlockTooShort {
            declared: len,
            minimum,
        });
    }
    if !len.is_multiple_of(4) {
        return err(CaptureErrorKind::BlockLengthNotMultipleOf4 { declared: len });
    }
    if len > MAX_PCAPNG_BLOCK {
        return err(CaptureErrorKind::ImplausibleLength {
            what: "block",
            declared: len.into(),
            limit: MAX_PCAPNG_BLOCK.into(),
        });
    }
    Ok((block_type, len))
}

/// Decodes the body of an obsolete packet block (pcapng draft): interface id (16 bits),
/// drops count (16 bits), timestamp high and low, captured length, original length, data.
fn parse_obsolete_packet(body: &[u8], big_endian: bool) -> Option<(u16, u64, u32, u32, &[u8])> {
    let if_id = u16_at(body, 0, big_endian)?;
    let high = u32_at(body, 4, big_endian)?;
    let low = u32_at(body, 8, big_endian)?;
    let caplen = u32_at(body, 12, big_endian)?;
    let origlen = u32_at(body, 16, big_endian)?;
    let data = body.get(20..)?;
    Some((
        if_id,
        (u64::from(high) << 32) | u64::from(low),
        caplen,
        origlen,
        data,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcapng_resolutions() {
        // Microseconds (default), nanoseconds, 2^-10 s, and an offset of one second.
        assert_eq!(pcapng_ns(1_500_000, 6, 0), 1_500_000_000);
        assert_eq!(pcapng_ns(7, 9, 0), 7);
        assert_eq!(pcapng_ns(1024, 0x80 | 10, 0), 1_000_000_000);
        assert_eq!(pcapng_ns(1, 6, 1), 1_000_001_000);
        // Picoseconds truncate to nanoseconds.
        assert_eq!(pcapng_ns(1_999, 12, 0), 1);
        // Absurd resolutions do not overflow.
        assert_eq!(pcapng_ns(u64::MAX, 127, 0), 0);
        assert_eq!(pcapng_ns(u64::MAX, 0, i64::MAX), i64::MAX);
    }

    #[test]
    fn link_type_names() {
        assert_eq!(LinkType(1).to_string(), "EN10MB (1)");
        assert_eq!(LinkType(274).to_string(), "ETHERNET_MPACKET (274)");
        assert_eq!(LinkType(9999).to_string(), "UNKNOWN (9999)");
    }
}
