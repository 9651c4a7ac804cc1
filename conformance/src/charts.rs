//! What every chart shares: the bundled font, so that charts draw the same text on every
//! machine without system fonts.

use std::sync::Once;

/// DejaVu Sans (Bitstream Vera licence, `assets/DejaVuSans.LICENSE`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Registers the bundled font as `sans-serif`, once per process, before any chart lays out
/// text (plotters measures text with it for SVG and draws it for PNG).
pub fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are compiled in and known to parse; a failure would only lose text.
        let _ =
            plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, FONT);
    });
}
