//! LED drivers: rppal GPIO and the sysfs ACT LED. Thin on purpose; the logic is in
//! `crate::board::led_pattern`, tested off the Pi.

use std::path::PathBuf;

/// Which LED to drive, from the config's `led` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedSpec {
    /// No LED.
    None,
    /// The board's activity LED (`/sys/class/leds/ACT`).
    Act,
    /// A GPIO pin (BCM numbering).
    Gpio {
        /// BCM pin number.
        pin: u8,
        /// Lit when the pin is low.
        active_low: bool,
    },
}

impl LedSpec {
    /// Parses `none`, `act`, `gpio:N`; `active_low` applies to GPIO.
    pub fn parse(text: &str, active_low: bool) -> Result<LedSpec, LedSpecError> {
        match text.trim() {
            "none" | "" => Ok(LedSpec::None),
            "act" => Ok(LedSpec::Act),
            other => {
                let pin = other
                    .strip_prefix("gpio:")
                    .and_then(|p| p.parse::<u8>().ok())
                    .filter(|&p| p <= 53)
                    .ok_or_else(|| LedSpecError(other.to_string()))?;
                Ok(LedSpec::Gpio { pin, active_low })
            }
        }
    }
}

/// An `led` value that names no LED (the value as given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedSpecError(pub String);

impl std::fmt::Display for LedSpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} is not valid: use \"none\", \"act\" or \"gpio:N\" (BCM pin 0-53)",
            self.0
        )
    }
}

impl std::error::Error for LedSpecError {}

/// A driver failure.
#[derive(Debug)]
pub enum LedError {
    /// The GPIO chip or the pin could not be had.
    Gpio {
        /// The pin, once the chip opened.
        pin: Option<u8>,
        /// Why.
        source: rppal::gpio::Error,
    },
    /// No ACT LED in sysfs.
    NoActLed,
    /// A sysfs file could not be written.
    Sysfs {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl std::fmt::Display for LedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LedError::Gpio { pin: None, source } => write!(f, "GPIO: {source}"),
            LedError::Gpio {
                pin: Some(p),
                source,
            } => write!(f, "GPIO pin {p}: {source}"),
            LedError::NoActLed => {
                f.write_str("no /sys/class/leds/ACT (or led0): not a Raspberry Pi?")
            }
            LedError::Sysfs { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for LedError {}

/// Something that lights an LED.
pub trait LedDriver: Send {
    /// Lights it or not.
    fn set(&mut self, on: bool) -> Result<(), LedError>;
}

/// Opens the driver for `spec`; `Ok(None)` for no LED.
pub fn open(spec: LedSpec) -> Result<Option<Box<dyn LedDriver>>, LedError> {
    Ok(match spec {
        LedSpec::None => None,
        LedSpec::Act => Some(Box::new(SysfsLed::open()?)),
        LedSpec::Gpio { pin, active_low } => Some(Box::new(GpioLed::open(pin, active_low)?)),
    })
}

/// A GPIO pin driven through rppal; rppal resets the pin when it is dropped.
pub struct GpioLed {
    pin: rppal::gpio::OutputPin,
    active_low: bool,
}

impl GpioLed {
    fn open(pin: u8, active_low: bool) -> Result<GpioLed, LedError> {
        let gpio =
            rppal::gpio::Gpio::new().map_err(|source| LedError::Gpio { pin: None, source })?;
        let pin = gpio
            .get(pin)
            .map_err(|source| LedError::Gpio {
                pin: Some(pin),
                source,
            })?
            .into_output();
        Ok(GpioLed { pin, active_low })
    }
}

impl LedDriver for GpioLed {
    fn set(&mut self, on: bool) -> Result<(), LedError> {
        if on != self.active_low {
            self.pin.set_high();
        } else {
            self.pin.set_low();
        }
        Ok(())
    }
}

/// The board's activity LED through `/sys/class/leds`. Its trigger (usually `mmc0` or
/// `actpwr`) is set to `none` while piauth drives it and put back on drop.
pub struct SysfsLed {
    dir: PathBuf,
    saved_trigger: Option<String>,
    max: String,
}

impl SysfsLed {
    fn open() -> Result<SysfsLed, LedError> {
        let dir = ["ACT", "led0"]
            .iter()
            .map(|n| PathBuf::from("/sys/class/leds").join(n))
            .find(|p| p.join("brightness").exists())
            .ok_or(LedError::NoActLed)?;
        let triggers = std::fs::read_to_string(dir.join("trigger")).unwrap_or_default();
        // The current trigger is the one in brackets: "none [mmc0] timer ...".
        let saved_trigger = triggers
            .split_whitespace()
            .find_map(|t| t.strip_prefix('[').and_then(|t| t.strip_suffix(']')))
            .map(str::to_string);
        std::fs::write(dir.join("trigger"), "none").map_err(|source| LedError::Sysfs {
            path: dir.join("trigger"),
            source,
        })?;
        let max = std::fs::read_to_string(dir.join("max_brightness"))
            .map(|m| m.trim().to_string())
            .unwrap_or_else(|_| "1".into());
        Ok(SysfsLed {
            dir,
            saved_trigger,
            max,
        })
    }
}

impl LedDriver for SysfsLed {
    fn set(&mut self, on: bool) -> Result<(), LedError> {
        let value = if on { self.max.as_str() } else { "0" };
        std::fs::write(self.dir.join("brightness"), value).map_err(|source| LedError::Sysfs {
            path: self.dir.join("brightness"),
            source,
        })
    }
}

impl Drop for SysfsLed {
    fn drop(&mut self) {
        if let Some(t) = &self.saved_trigger {
            let _ = std::fs::write(self.dir.join("trigger"), t);
        }
    }
}
