//! The registries Tessera ships, embedded so `tessera demo` and `tessera synth --csv` need no
//! files beside the binary. The files under `registries/` are the source.

use tessera_domain::Dictionary;

/// The joint replacement registry's dictionary text.
pub const JOINTS_TOML: &str = include_str!("../../../registries/joints.toml");
/// The breast and cosmetic implant registry's dictionary text.
pub const BREAST_TOML: &str = include_str!("../../../registries/breast.toml");

/// Both shipped dictionaries, parsed.
pub fn dictionaries() -> Vec<Dictionary> {
    [JOINTS_TOML, BREAST_TOML]
        .iter()
        .map(|t| Dictionary::from_toml(t).expect("shipped dictionaries are valid"))
        .collect()
}
