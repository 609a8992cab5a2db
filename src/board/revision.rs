//! Which board is this? Raspberry Pi revision codes and `/proc/cpuinfo` text, decoded.
//!
//! Pure: the caller reads `/proc/cpuinfo` (or a fixture) and hands in the text. The revision
//! code decides the board; `Hardware`, `Model` and the device-tree model only corroborate,
//! because other ARM boards print a `Revision` line too and some of their values collide
//! with old-style Pi codes (an OMAP4430 prints `0010`, a Pi 1 B+ code).
//! Tables: the official *Raspberry Pi revision codes* document.

use serde::Serialize;

/// Which revision-code scheme a code uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Sequential codes 0002–0015 (Pi 1 family).
    Old,
    /// Bit-field codes with bit 23 set (Pi 2 onwards).
    New,
    /// No decodable code.
    None,
}

/// A revision code, decoded field by field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revision {
    /// The scheme.
    pub scheme: Scheme,
    /// Documented type name (`B`, `3B+`, `Zero 2 W`, `5`, ...), if the type is known.
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    /// The type field of a new-style code (also set for unknown types).
    pub type_code: Option<u8>,
    /// Full model name, if the type is known.
    pub model: Option<String>,
    /// RAM in MB, from the code (not from MemTotal).
    pub memory_mb: Option<u32>,
    /// SoC.
    pub processor: Option<&'static str>,
    /// Manufacturer.
    pub manufacturer: Option<&'static str>,
    /// PCB revision, e.g. `1.2`.
    pub board_revision: Option<String>,
    /// The warranty (overclock/overvoltage) flag: bit 25 as documented, or bit 24 as every
    /// real sample with the flag shows it (`100000e`, `1a01040`).
    pub warranty_bit: bool,
    /// Bit 31: overvoltage disallowed.
    pub overvoltage_disallowed: bool,
}

/// Old-style codes: (code, type, PCB revision, RAM MB, manufacturer).
impl Scheme {
    /// `old`, `new` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Old => "old",
            Scheme::New => "new",
            Scheme::None => "none",
        }
    }
}

impl Default for Revision {
    /// No code decoded.
    fn default() -> Self {
        Revision {
            scheme: Scheme::None,
            type_name: None,
            type_code: None,
            model: None,
            memory_mb: None,
            processor: None,
            manufacturer: None,
            board_revision: None,
            warranty_bit: false,
            overvoltage_disallowed: false,
        }
    }
}

const OLD_CODES: [(u32, &str, &str, u32, &str); 17] = [
    (0x02, "B", "1.0", 256, "Egoman"),
    (0x03, "B", "1.0", 256, "Egoman"),
    (0x04, "B", "2.0", 256, "Sony UK"),
    (0x05, "B", "2.0", 256, "Qisda"),
    (0x06, "B", "2.0", 256, "Egoman"),
    (0x07, "A", "2.0", 256, "Egoman"),
    (0x08, "A", "2.0", 256, "Sony UK"),
    (0x09, "A", "2.0", 256, "Qisda"),
    (0x0d, "B", "2.0", 512, "Egoman"),
    (0x0e, "B", "2.0", 512, "Sony UK"),
    (0x0f, "B", "2.0", 512, "Egoman"),
    (0x10, "B+", "1.2", 512, "Sony UK"),
    (0x11, "CM1", "1.0", 512, "Sony UK"),
    (0x12, "A+", "1.1", 256, "Sony UK"),
    (0x13, "B+", "1.2", 512, "Embest"),
    (0x14, "CM1", "1.0", 512, "Embest"),
    // The document says "256 MB / 512 MB": both were made; size for the smaller.
    (0x15, "A+", "1.1", 256, "Embest"),
];

/// New-style type field → (type name, full model name).
fn new_type(code: u8, memory_code: u32) -> Option<(&'static str, &'static str)> {
    Some(match code {
        0x00 => ("A", "Raspberry Pi Model A"),
        0x01 => ("B", "Raspberry Pi Model B"),
        0x02 => ("A+", "Raspberry Pi Model A+"),
        0x03 => ("B+", "Raspberry Pi Model B+"),
        0x04 => ("2B", "Raspberry Pi 2 Model B"),
        0x05 => ("Alpha", "Raspberry Pi Alpha (early prototype)"),
        0x06 => ("CM1", "Raspberry Pi Compute Module 1"),
        0x08 => ("3B", "Raspberry Pi 3 Model B"),
        0x09 => ("Zero", "Raspberry Pi Zero"),
        0x0a => ("CM3", "Raspberry Pi Compute Module 3"),
        0x0c => ("Zero W", "Raspberry Pi Zero W"),
        0x0d => ("3B+", "Raspberry Pi 3 Model B+"),
        0x0e => ("3A+", "Raspberry Pi 3 Model A+"),
        0x0f | 0x16 => ("Internal use only", "Raspberry Pi (internal use only)"),
        0x10 => ("CM3+", "Raspberry Pi Compute Module 3+"),
        0x11 => ("4B", "Raspberry Pi 4 Model B"),
        0x12 => ("Zero 2 W", "Raspberry Pi Zero 2 W"),
        0x13 => ("400", "Raspberry Pi 400"),
        0x14 => ("CM4", "Raspberry Pi Compute Module 4"),
        0x15 => ("CM4S", "Raspberry Pi Compute Module 4S"),
        0x17 => ("5", "Raspberry Pi 5"),
        0x18 => ("CM5", "Raspberry Pi Compute Module 5"),
        // The document writes 0x19 as "500/500+"; the 16 GB model is the 500+.
        0x19 if memory_code == 6 => ("500+", "Raspberry Pi 500+"),
        0x19 => ("500", "Raspberry Pi 500"),
        0x1a => ("CM5 Lite", "Raspberry Pi Compute Module 5 Lite"),
        0x1b => ("CM0", "Raspberry Pi Compute Module 0"),
        _ => return None,
    })
}

const PROCESSORS: [&str; 5] = ["BCM2835", "BCM2836", "BCM2837", "BCM2711", "BCM2712"];
const MANUFACTURERS: [&str; 6] = [
    "Sony UK",
    "Egoman",
    "Embest",
    "Sony Japan",
    "Embest",
    "Stadium",
];
const MEMORY_MB: [Option<u32>; 8] = [
    Some(256),
    Some(512),
    Some(1024),
    Some(2048),
    Some(4096),
    Some(8192),
    Some(16384),
    None, // "Other": the firmware knows, the code does not.
];

const WARRANTY_BITS: u32 = (1 << 24) | (1 << 25);

/// Decodes a revision code as written in cpuinfo (hex, 4 to 8 digits). `None` when it is
/// not hex or is neither a documented old-style code nor a new-style code.
pub fn decode_revision(text: &str) -> Option<Revision> {
    let text = text.trim();
    if text.is_empty() || text.len() > 8 {
        return None;
    }
    let code = u32::from_str_radix(text, 16).ok()?;
    let warranty_bit = code & WARRANTY_BITS != 0;
    let overvoltage_disallowed = code & (1 << 31) != 0;
    if code & (1 << 23) == 0 {
        // Old style: the low 24 bits name the board; bits 24+ are flags.
        let low = code & 0x00ff_ffff;
        let &(_, ty, rev, mem, maker) = OLD_CODES.iter().find(|(c, ..)| *c == low)?;
        let model = match ty {
            "CM1" => "Raspberry Pi Compute Module 1".to_string(),
            other => format!("Raspberry Pi Model {other}"),
        };
        return Some(Revision {
            scheme: Scheme::Old,
            type_name: Some(ty.to_string()),
            type_code: None,
            model: Some(model),
            memory_mb: Some(mem),
            processor: Some("BCM2835"),
            manufacturer: Some(maker),
            board_revision: Some(rev.to_string()),
            warranty_bit,
            overvoltage_disallowed,
        });
    }
    let memory_code = (code >> 20) & 0x7;
    let type_code = ((code >> 4) & 0xff) as u8;
    let typ = new_type(type_code, memory_code);
    Some(Revision {
        scheme: Scheme::New,
        type_name: typ.map(|(t, _)| t.to_string()),
        type_code: Some(type_code),
        model: typ.map(|(_, m)| m.to_string()),
        memory_mb: MEMORY_MB[memory_code as usize],
        processor: PROCESSORS.get(((code >> 12) & 0xf) as usize).copied(),
        manufacturer: MANUFACTURERS.get(((code >> 16) & 0xf) as usize).copied(),
        board_revision: Some(format!("1.{}", code & 0xf)),
        warranty_bit,
        overvoltage_disallowed,
    })
}

/// The Pi-specific trailer lines of `/proc/cpuinfo`, and the CPU count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuInfoFacts {
    /// `Revision`.
    pub revision: Option<String>,
    /// `Hardware` (the last one: Allwinner kernels repeat it per block).
    pub hardware: Option<String>,
    /// `Model` (capital M: not `model` or `model name`).
    pub model: Option<String>,
    /// `Serial`.
    pub serial: Option<String>,
    /// Logical CPUs.
    pub cores: usize,
}

/// Reads the lines that matter. `procfs` parses the per-CPU blocks but drops the Pi's
/// trailing `Hardware`/`Revision`/`Serial`/`Model` lines, so those are read here.
pub fn parse_cpuinfo(text: &str) -> CpuInfoFacts {
    let mut facts = CpuInfoFacts::default();
    let mut processors = 0usize;
    let mut old_processor_line = false;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let value_opt = (!value.is_empty()).then(|| value.to_string());
        match key.trim() {
            "Revision" => facts.revision = value_opt,
            "Hardware" => facts.hardware = value_opt,
            "Model" => facts.model = value_opt,
            "Serial" => facts.serial = value_opt,
            "processor" => {
                // A condensed dump writes `processor : 0-3`.
                processors += match value.split_once('-') {
                    Some((a, b)) => match (a.trim().parse::<usize>(), b.trim().parse::<usize>()) {
                        (Ok(a), Ok(b)) if b >= a => b - a + 1,
                        _ => 1,
                    },
                    None => 1,
                }
            }
            // Old 3.x ARM kernels print one `Processor : ARMv6-compatible ...` line instead.
            "Processor" => old_processor_line = true,
            _ => {}
        }
    }
    facts.cores = if processors > 0 {
        processors
    } else {
        usize::from(old_processor_line)
    };
    facts
}

/// The board, as `piauth board` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Board {
    /// `Revision` as written in cpuinfo (or read from the device tree).
    pub revision: Option<String>,
    /// Whether this is a Raspberry Pi.
    pub is_raspberry_pi: bool,
    /// The decoded code; empty (scheme `none`) unless this is a Pi.
    #[serde(flatten)]
    pub code: Revision,
    /// Logical CPUs.
    pub cores: usize,
    /// `Hardware` line, if any.
    pub hardware: Option<String>,
    /// `Model` line or device-tree model, shown but not trusted over the code.
    pub reported_model: Option<String>,
    /// Why the verdict is what it is, in a sentence.
    pub reason: String,
}

fn says_raspberry_pi(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|m| m.starts_with("Raspberry Pi"))
}

/// Decides the board from cpuinfo facts and the device-tree model (if one was read).
pub fn detect(facts: &CpuInfoFacts, device_tree_model: Option<&str>) -> Board {
    let dt_model = device_tree_model
        .map(|m| m.trim_end_matches('\0').trim().to_string())
        .filter(|m| !m.is_empty());
    let reported_model = facts.model.clone().or(dt_model.clone());
    let named_pi = says_raspberry_pi(&facts.model) || says_raspberry_pi(&dt_model);
    let bcm_hardware = facts
        .hardware
        .as_deref()
        .is_some_and(|h| h.starts_with("BCM27") || h.starts_with("BCM28"));
    let decoded = facts.revision.as_deref().and_then(decode_revision);
    let mut board = Board {
        revision: facts.revision.clone(),
        is_raspberry_pi: false,
        code: Revision::default(),
        cores: facts.cores.max(1),
        hardware: facts.hardware.clone(),
        reported_model,
        reason: String::new(),
    };
    let Some(rev) = decoded else {
        board.is_raspberry_pi = named_pi;
        board.reason = match (&facts.revision, named_pi) {
            (_, true) => "the model names a Raspberry Pi but no revision code was found (mainline kernel?): sized from MemTotal".into(),
            (Some(r), false) => format!("revision {r:?} is not a Raspberry Pi code"),
            (None, false) => "no Raspberry Pi revision code: not a Raspberry Pi".into(),
        };
        return board;
    };
    // Other hardware that prints a colliding code names its own SoC in `Hardware`.
    let foreign_hardware = facts.hardware.is_some() && !bcm_hardware;
    let is_pi = match rev.scheme {
        // Small sequential values are printed by other boards too: want corroboration.
        Scheme::Old => bcm_hardware || named_pi,
        // Bit 23 with a documented processor is specific to the Pi, unless the hardware
        // line names something else and nothing names a Pi.
        _ => rev.processor.is_some() && (!foreign_hardware || named_pi),
    };
    if !is_pi {
        board.reason = format!(
            "revision {:?} decodes as a Pi code, but the hardware ({}) is not a Raspberry Pi",
            facts.revision.as_deref().unwrap_or(""),
            facts.hardware.as_deref().unwrap_or("unknown")
        );
        return board;
    }
    board.is_raspberry_pi = true;
    if facts.cores == 0 {
        // A fragment without processor blocks: the SoC says how many cores there are.
        board.cores = if rev.processor == Some("BCM2835") {
            1
        } else {
            4
        };
    }
    board.reason = match &rev.type_name {
        Some(_) => "decoded from the revision code".into(),
        None => format!(
            "new-style code with an undocumented type 0x{:02x}: fields decoded, model unknown",
            rev.type_code.unwrap_or(0)
        ),
    };
    board.code = rev;
    board
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_documents_worked_example() {
        let r = decode_revision("c03111").unwrap();
        assert_eq!(r.scheme, Scheme::New);
        assert_eq!(r.type_name.as_deref(), Some("4B"));
        assert_eq!(r.processor, Some("BCM2711"));
        assert_eq!(r.manufacturer, Some("Sony UK"));
        assert_eq!(r.memory_mb, Some(4096));
        assert_eq!(r.board_revision.as_deref(), Some("1.1"));
    }

    #[test]
    fn decodes_a21041_as_an_embest_pi_2() {
        let r = decode_revision("a21041").unwrap();
        assert_eq!(r.model.as_deref(), Some("Raspberry Pi 2 Model B"));
        assert_eq!(r.memory_mb, Some(1024));
        assert_eq!(r.processor, Some("BCM2836"));
        assert_eq!(r.manufacturer, Some("Embest"));
    }

    #[test]
    fn the_operators_table_of_old_codes() {
        for (code, ty, mem) in [
            ("0002", "B", 256),
            ("0006", "B", 256),
            ("0007", "A", 256),
            ("0009", "A", 256),
            ("000d", "B", 512),
            ("000f", "B", 512),
            ("0010", "B+", 512),
            ("0012", "A+", 256),
        ] {
            let r = decode_revision(code).unwrap();
            assert_eq!(
                (r.type_name.as_deref(), r.memory_mb),
                (Some(ty), Some(mem)),
                "{code}"
            );
            assert_eq!(r.scheme, Scheme::Old);
        }
        for undocumented in [
            "0000",
            "0001",
            "000a",
            "000b",
            "000c",
            "0016",
            "zz",
            "",
            "123456789",
        ] {
            assert_eq!(decode_revision(undocumented), None, "{undocumented}");
        }
    }

    #[test]
    fn warranty_bits_are_reported_not_mistaken_for_another_board() {
        let r = decode_revision("100000e").unwrap();
        assert!(r.warranty_bit);
        assert_eq!(r.type_name.as_deref(), Some("B"));
        assert_eq!(r.memory_mb, Some(512));
        let r = decode_revision("1a01040").unwrap();
        assert!(r.warranty_bit);
        assert_eq!(r.type_name.as_deref(), Some("2B"));
        let r = decode_revision("2a02082").unwrap();
        assert!(r.warranty_bit);
        assert_eq!(r.type_name.as_deref(), Some("3B"));
        assert!(!decode_revision("a02082").unwrap().warranty_bit);
    }

    #[test]
    fn unknown_new_types_decode_their_other_fields() {
        // Type 0x30 is not documented.
        let r = decode_revision("c04300").unwrap();
        assert_eq!(r.type_name, None);
        assert_eq!(r.model, None);
        assert_eq!(r.type_code, Some(0x30));
        assert_eq!(r.memory_mb, Some(4096));
        assert_eq!(r.processor, Some("BCM2712"));
        let board = detect(
            &CpuInfoFacts {
                revision: Some("c04300".into()),
                cores: 4,
                ..Default::default()
            },
            None,
        );
        assert!(board.is_raspberry_pi);
        assert_eq!(board.code.model, None);
        assert!(board.reason.contains("undocumented type 0x30"));
    }

    #[test]
    fn a_colliding_code_on_other_hardware_is_not_a_pi() {
        let facts = CpuInfoFacts {
            revision: Some("0010".into()),
            hardware: Some("OMAP4 Panda board".into()),
            cores: 2,
            ..Default::default()
        };
        let b = detect(&facts, None);
        assert!(!b.is_raspberry_pi);
        assert_eq!(b.code, Revision::default());
    }

    #[test]
    fn a_tail_fragment_takes_its_core_count_from_the_soc() {
        let f = parse_cpuinfo("Revision\t: c03111\nSerial\t\t: 1000000012345678\n");
        assert_eq!(f.cores, 0);
        assert_eq!(detect(&f, None).cores, 4);
        assert_eq!(detect(&parse_cpuinfo("Revision : 9000c1\n"), None).cores, 1);
    }

    #[test]
    fn condensed_and_old_kernel_processor_lines_count_cores() {
        assert_eq!(
            parse_cpuinfo("processor : 0-3\nRevision : 9020e0\n").cores,
            4
        );
        assert_eq!(
            parse_cpuinfo("Processor\t: ARMv6-compatible\nHardware\t: BCM2708\n").cores,
            1
        );
        let f = parse_cpuinfo("model name : x\nmodel\t: 1\n");
        assert_eq!(f.model, None, "lower-case model is not the Pi Model line");
    }
}
