//! The NHS number: ten digits whose last is a modulus 11 check digit.

use std::fmt;

/// A valid NHS number, stored as its ten digits.
///
/// `Debug` deliberately prints nothing of the number: it is a direct patient identifier and must
/// never reach a log line by accident. Use [`NhsNumber::digits`] where the value is truly needed
/// (encryption, blind indexing, showing it to an authorised user).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NhsNumber([u8; 10]);

/// Why a string is not an NHS number. The error never carries the input itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NhsNumberError {
    /// Something other than a digit or a space.
    #[error("an NHS number may contain only digits and spaces")]
    NotDigits,
    /// Not ten digits once spaces are removed.
    #[error("an NHS number has exactly 10 digits (found {0})")]
    WrongLength(usize),
    /// The check calculation gives 10, which no valid NHS number can have.
    #[error("not a valid NHS number: its first nine digits give check digit 10, which is never issued")]
    CheckDigitTen,
    /// The tenth digit is not the one the first nine require.
    #[error("not a valid NHS number: the check digit does not match")]
    CheckDigitMismatch,
}

impl NhsNumber {
    /// Parses an NHS number, accepting spaces anywhere (`943 476 5919`).
    pub fn parse(input: &str) -> Result<Self, NhsNumberError> {
        let mut digits = [0u8; 10];
        let mut n = 0usize;
        for c in input.chars() {
            match c {
                ' ' => {}
                '0'..='9' => {
                    if n < 10 {
                        digits[n] = c as u8 - b'0';
                    }
                    n += 1;
                }
                _ => return Err(NhsNumberError::NotDigits),
            }
        }
        if n != 10 {
            return Err(NhsNumberError::WrongLength(n));
        }
        let first_nine: [u8; 9] = digits[..9].try_into().expect("nine digits");
        match Self::check_digit(&first_nine) {
            None => Err(NhsNumberError::CheckDigitTen),
            Some(c) if c != digits[9] => Err(NhsNumberError::CheckDigitMismatch),
            Some(_) => Ok(Self(digits)),
        }
    }

    /// The check digit the first nine digits require, or `None` when the rule gives 10 (such
    /// prefixes are never issued).
    ///
    /// Digits 1–9 are weighted 10 down to 2; r = 11 − (sum mod 11); 11 becomes 0.
    pub fn check_digit(first_nine: &[u8; 9]) -> Option<u8> {
        let sum: u32 = first_nine.iter().zip((2..=10u32).rev()).map(|(&d, w)| u32::from(d) * w).sum();
        match 11 - (sum % 11) {
            11 => Some(0),
            10 => None,
            r => Some(r as u8),
        }
    }

    /// Completes nine digits into an NHS number, or `None` if the prefix would need check digit 10.
    pub fn from_prefix(first_nine: [u8; 9]) -> Option<Self> {
        if first_nine.iter().any(|&d| d > 9) {
            return None;
        }
        let check = Self::check_digit(&first_nine)?;
        let mut digits = [0u8; 10];
        digits[..9].copy_from_slice(&first_nine);
        digits[9] = check;
        Some(Self(digits))
    }

    /// The ten digits, without spaces.
    pub fn digits(&self) -> String {
        self.0.iter().map(|d| char::from(b'0' + d)).collect()
    }

    /// The number in the 3-3-4 form people read (`943 476 5919`).
    pub fn formatted(&self) -> String {
        let d = self.digits();
        format!("{} {} {}", &d[..3], &d[3..6], &d[6..])
    }

    /// True for the range the NHS reserves for testing (numbers starting 999).
    pub fn is_test_number(&self) -> bool {
        self.0[..3] == [9, 9, 9]
    }
}

impl fmt::Debug for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NhsNumber(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Hand-checked vectors. For each, the weighted sum of the first nine digits was worked out
    /// by hand from the published rule (weights 10..2, r = 11 − sum mod 11, 11 → 0, 10 invalid).
    /// Example: 943476591 → 90+36+24+28+42+30+20+27+2 = 299; 299 mod 11 = 2; 11 − 2 = 9.
    const VALID: &[&str] = &[
        "9434765919",   // the NHS's own published example
        "943 476 5919", // the same, spaced as printed on letters
        "943476 5919",
        " 9434765919 ",
        "4010232137", // 4·10+0+1·8+0+2·6+3·5+2·4+1·3+3·2 = 92; 92 mod 11 = 4; 11−4 = 7
        "9990000018", // 9·10+9·9+9·8+0+0+0+0+0+1·2 = 245; 245 mod 11 = 3; 11−3 = 8
        "9999999999", // 9·54 = 486; 486 mod 11 = 2; 11−2 = 9
        "0000000000", // sum 0 → r = 11 → check digit 0
        "1000000001", // 10; 10 mod 11 = 10; 11−10 = 1
        "9998219930", // r = 11 → 0
        "9997601890", // r = 11 → 0
        "7114710496",
        "7465075297",
        "1703423666",
        "2330792441",
    ];

    #[test]
    fn published_and_hand_checked_numbers_are_accepted() {
        for v in VALID {
            let n = NhsNumber::parse(v).unwrap_or_else(|e| panic!("{v:?} rejected: {e}"));
            assert_eq!(n.digits(), v.replace(' ', ""));
        }
    }

    #[test]
    fn a_wrong_check_digit_is_rejected() {
        for v in ["9434765918", "4010232138", "9990000019", "9999999990", "0000000001"] {
            assert_eq!(NhsNumber::parse(v), Err(NhsNumberError::CheckDigitMismatch), "{v}");
        }
    }

    #[test]
    fn prefixes_whose_check_digit_would_be_ten_are_rejected_whatever_the_last_digit() {
        // 123456789: 10+18+24+28+30+30+28+24+18 = 210; 210 mod 11 = 1; 11−1 = 10.
        // 999123456: 90+81+72+7+12+15+16+15+12 = 320; 320 mod 11 = 1; 11−1 = 10.
        for prefix in ["123456789", "999123456", "999937865", "999797543", "999555979"] {
            for last in 0..=9 {
                let v = format!("{prefix}{last}");
                assert_eq!(NhsNumber::parse(&v), Err(NhsNumberError::CheckDigitTen), "{v}");
            }
        }
    }

    #[test]
    fn wrong_lengths_and_characters_are_rejected_with_a_reason() {
        assert_eq!(NhsNumber::parse(""), Err(NhsNumberError::WrongLength(0)));
        assert_eq!(NhsNumber::parse("943476591"), Err(NhsNumberError::WrongLength(9)));
        assert_eq!(NhsNumber::parse("94347659190"), Err(NhsNumberError::WrongLength(11)));
        assert_eq!(NhsNumber::parse("943-476-5919"), Err(NhsNumberError::NotDigits));
        assert_eq!(NhsNumber::parse("94347659l9"), Err(NhsNumberError::NotDigits));
        assert_eq!(NhsNumber::parse("９４３４７６５９１９"), Err(NhsNumberError::NotDigits));
    }

    #[test]
    fn debug_output_never_shows_the_number() {
        let n = NhsNumber::parse("9434765919").unwrap();
        assert!(!format!("{n:?}").contains("943"));
        assert_eq!(n.formatted(), "943 476 5919");
        assert!(!n.is_test_number());
        assert!(NhsNumber::parse("9990000018").unwrap().is_test_number());
    }

    /// An independent, deliberately naive statement of the published rule, for the property tests.
    #[allow(clippy::needless_range_loop)] // written as the published rule reads: digit i, weight 10 − i
    fn reference_is_valid(digits: &[u8]) -> bool {
        let mut sum = 0u32;
        for i in 0..9 {
            sum += u32::from(digits[i]) * (10 - i as u32);
        }
        let mut r = 11 - sum % 11;
        if r == 11 {
            r = 0;
        }
        r != 10 && r == u32::from(digits[9])
    }

    proptest! {
        #[test]
        fn parse_agrees_with_the_published_rule(digits in proptest::collection::vec(0u8..10, 10)) {
            let s: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            prop_assert_eq!(NhsNumber::parse(&s).is_ok(), reference_is_valid(&digits));
        }

        #[test]
        fn every_completed_prefix_parses_and_round_trips(prefix in proptest::array::uniform9(0u8..10)) {
            match NhsNumber::from_prefix(prefix) {
                Some(n) => {
                    prop_assert_eq!(NhsNumber::parse(&n.digits()), Ok(n.clone()));
                    prop_assert_eq!(NhsNumber::parse(&n.formatted()), Ok(n));
                }
                None => prop_assert_eq!(NhsNumber::check_digit(&prefix), None),
            }
        }

        #[test]
        fn spaces_never_change_the_result(digits in proptest::collection::vec(0u8..10, 10), gaps in proptest::collection::vec(0usize..11, 0..4)) {
            let plain: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            let mut spaced = plain.clone();
            let mut gaps = gaps;
            gaps.sort_unstable();
            for g in gaps.into_iter().rev() {
                spaced.insert(g, ' ');
            }
            prop_assert_eq!(NhsNumber::parse(&plain), NhsNumber::parse(&spaced));
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,20}") {
            let _ = NhsNumber::parse(&s);
        }
    }
}
