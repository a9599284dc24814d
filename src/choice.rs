//! Enums of named choices (a compose fault, a STARTTLS mode, a simulator's fault): the name a
//! user types (command line, suite files) and its one-line help, declared once with the variant,
//! without the library knowing the command line (the binary turns a [`Choice`] into clap values).

/// A closed set of named values.
pub trait Choice: Copy + Send + Sync + 'static {
    const ALL: &'static [Self];
    /// The name users type (`no-zip`).
    fn name(self) -> &'static str;
    /// One line saying what it does (the variant's doc comment).
    fn help(self) -> &'static str;
    /// The value named `s` (ASCII case ignored).
    fn from_name(s: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|c| c.name().eq_ignore_ascii_case(s))
    }
}

/// Declare an enum whose variants each have a doc comment and a name:
/// `choice_enum! { pub enum Mode { /// Help. Fast = "fast", } }`.
#[macro_export]
macro_rules! choice_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident {
        $( $(#[doc = $doc:literal])* $variant:ident = $text:literal ),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name { $( $(#[doc = $doc])* $variant ),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; { [$(stringify!($variant)),+].len() }] = [$($name::$variant),+];

            /// The name users type.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// One line saying what it does.
            pub fn help(self) -> &'static str {
                match self { $($name::$variant => concat!("", $($doc),*).trim_ascii()),+ }
            }
        }

        impl $crate::choice::Choice for $name {
            const ALL: &'static [Self] = &$name::ALL;
            fn name(self) -> &'static str {
                $name::name(self)
            }
            fn help(self) -> &'static str {
                $name::help(self)
            }
        }
    };
}
