//! XPath 2.0 → XPath 1.0 (+ banc extension functions) translation. Being written.
