//! Instruction sets. Each ISA is a folder implementing [`crate::masm::MacroAssembler`].

pub mod x64;

/// A target instruction set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// x86-64 (System V, Linux).
    X64,
}

impl Isa {
    /// The ISA of the running machine, if Keel supports it.
    pub fn host() -> Option<Isa> {
        if cfg!(target_arch = "x86_64") {
            Some(Isa::X64)
        } else {
            None
        }
    }

    /// Stable name, recorded in compiled artifacts.
    pub fn name(self) -> &'static str {
        match self {
            Isa::X64 => "x86_64",
        }
    }

    /// The CPU features the generated code needs, as a sorted comma-separated list, or an
    /// error naming the first one missing on this machine.
    pub fn check_features(self) -> Result<String, String> {
        match self {
            Isa::X64 => {
                let mut names = Vec::new();
                for (name, present) in x64::required_features() {
                    if !present {
                        return Err(name.to_string());
                    }
                    names.push(name);
                }
                Ok(names.join(","))
            }
        }
    }
}
