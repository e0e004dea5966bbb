//! Instruction sets. Each ISA is a folder implementing [`crate::masm::MacroAssembler`].
//!
//! The target ISA is an [`crate::Config`] setting: every host compiles for every ISA
//! (cross-compilation, e.g. building and checking aarch64 artifacts on x86-64), and only
//! modules compiled for the host's own ISA can be instantiated and run.

pub mod aarch64;
pub mod x64;

/// A target instruction set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// x86-64 (System V).
    X64,
    /// AArch64 (AAPCS64).
    Aarch64,
}

impl Isa {
    /// Every supported ISA.
    pub const ALL: [Isa; 2] = [Isa::X64, Isa::Aarch64];

    /// The ISA of the running machine, if Keel supports it.
    pub fn host() -> Option<Isa> {
        if cfg!(target_arch = "x86_64") {
            Some(Isa::X64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Isa::Aarch64)
        } else {
            None
        }
    }

    /// Stable name, recorded in compiled artifacts (`"x86_64"`, `"aarch64"`).
    pub fn name(self) -> &'static str {
        match self {
            Isa::X64 => "x86_64",
            Isa::Aarch64 => "aarch64",
        }
    }

    /// The ISA named `name` (as [`Isa::name`] spells it), if supported.
    pub fn from_name(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|i| i.name() == name)
    }

    /// Whether code for this ISA can run on this machine (the host's ISA).
    pub fn is_host(self) -> bool {
        Isa::host() == Some(self)
    }

    fn features(self) -> Vec<(&'static str, bool)> {
        match self {
            Isa::X64 => x64::required_features(),
            Isa::Aarch64 => aarch64::required_features(),
        }
    }

    /// Optional CPU features the code generator can use, as `(name, present)` on the
    /// running machine (see [`crate::Config::optional_cpu_features`]).
    pub fn optional_features(self) -> Vec<(&'static str, bool)> {
        match self {
            Isa::X64 => x64::optional_features(),
            Isa::Aarch64 => Vec::new(),
        }
    }

    /// The CPU features the generated code needs, as a comma-separated list (recorded in
    /// artifacts), whatever the host.
    pub fn required_features(self) -> String {
        self.features().iter().map(|(n, _)| *n).collect::<Vec<_>>().join(",")
    }

    /// The CPU features the generated code needs, as a comma-separated list, or an error
    /// naming the first one missing on this machine (or the ISA, when it is not the
    /// host's).
    pub fn check_features(self) -> Result<String, String> {
        if !self.is_host() {
            return Err(format!("{} code (this host is {})", self.name(), host_name()));
        }
        for (name, present) in self.features() {
            if !present {
                return Err(name.to_string());
            }
        }
        Ok(self.required_features())
    }
}

/// The running machine's architecture name, for messages.
pub fn host_name() -> &'static str {
    Isa::host().map_or(std::env::consts::ARCH, Isa::name)
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
