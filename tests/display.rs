//! Checks of the display module: plots carry their names and labels, PNGs decode to the
//! expected size, captions really render (DejaVu Sans is bundled, no system font needed),
//! pixels map [-1, 1] -> 0..255, and bad input returns errors instead of panicking.

use ddpm::display::{
    from_luma8, from_rgb8, grid, picture, pixel_u8, strip, to_rgb8, Figure, Histogram, LinePlot, Scatter,
};
use ddpm::Error;
use ndarray::Array3;

fn decode(fig: &Figure) -> image::RgbImage {
    let png = fig.png().expect("figure has PNG bytes");
    image::load_from_memory_with_format(png, image::ImageFormat::Png).expect("PNG decodes").to_rgb8()
}

fn ts() -> Vec<f64> {
    (1..=100).map(f64::from).collect()
}

/// alpha_bar_t of the linear schedule with beta from 1e-4 to 0.02 over 100 steps (Ho et al. 2020, Eq. 4).
fn alpha_bar_linear() -> Vec<f64> {
    let mut prod = 1.0;
    ts().iter()
        .map(|t| {
            prod *= 1.0 - (1e-4 + (0.02 - 1e-4) * (t - 1.0) / 99.0);
            prod
        })
        .collect()
}

fn is_invalid<T: std::fmt::Debug>(r: ddpm::Result<T>, needle: &str) {
    match r {
        Err(Error::Invalid(msg)) => assert!(msg.contains(needle), "message {msg:?} should mention {needle:?}"),
        other => panic!("expected Error::Invalid mentioning {needle:?}, got {other:?}"),
    }
}

#[test]
fn line_plot_svg_holds_series_names_and_axis_labels() {
    let ab = alpha_bar_linear();
    let other: Vec<f64> = ab.iter().map(|a| a * a).collect();
    let svg = LinePlot::new("alpha_bar against t")
        .x_label("timestep t")
        .y_label("alpha_bar_t")
        .series("linear", &ts(), &ab)
        .series("squared", &ts(), &other)
        .h_line("threshold", 0.5)
        .to_svg()
        .unwrap();
    let text = svg.svg().unwrap();
    for needle in ["alpha_bar against t", "timestep t", "alpha_bar_t", "linear", "squared", "threshold"] {
        assert!(text.contains(needle), "SVG lacks {needle:?}");
    }
    assert!(text.starts_with("<svg"));
    assert_eq!(svg.size(), (720, 450));
}

#[test]
fn each_series_gets_its_own_colour() {
    let svg = LinePlot::new("two")
        .series("a", &[0.0, 1.0], &[0.0, 1.0])
        .series("b", &[0.0, 1.0], &[1.0, 0.0])
        .to_svg()
        .unwrap();
    let text = svg.svg().unwrap();
    // The first two colours of the palette (matplotlib's tab10), as plotters writes them.
    assert!(text.contains("#1F77B4"), "first series colour missing");
    assert!(text.contains("#FF7F0E"), "second series colour missing");
}

#[test]
fn log_y_plot_renders_and_rejects_non_positive_values() {
    let ab = alpha_bar_linear();
    let fig = LinePlot::new("log").series("linear", &ts(), &ab).log_y(true).to_png(640, 400).unwrap();
    assert_eq!(decode(&fig).dimensions(), (640, 400));

    let log_snr: Vec<f64> = ab.iter().map(|a| (a / (1.0 - a)).ln()).collect();
    assert!(log_snr.iter().any(|v| *v < 0.0));
    // Negative values are fine on a linear axis...
    LinePlot::new("log-SNR").series("linear", &ts(), &log_snr).to_svg().unwrap();
    // ...but not on a log one.
    is_invalid(LinePlot::new("log-SNR").series("linear", &ts(), &log_snr).log_y(true).to_svg(), "log-scale");
    is_invalid(LinePlot::new("zero").series("z", &[1.0], &[0.0]).log_y(true).to_svg(), "y[0] = 0");
    is_invalid(LinePlot::new("h").series("a", &[1.0], &[1.0]).h_line("zero", 0.0).log_y(true).to_svg(), "zero");
}

#[test]
fn line_plot_rejects_bad_series() {
    is_invalid(LinePlot::new("empty").to_svg(), "at least one series");
    is_invalid(LinePlot::new("p").series("a", &[1.0, 2.0], &[1.0]).to_svg(), "same length");
    is_invalid(LinePlot::new("p").series("a", &[], &[]).to_svg(), "no points");
    is_invalid(LinePlot::new("p").series("a", &[1.0, 2.0], &[1.0, f64::NAN]).to_svg(), "y[1] = NaN");
    is_invalid(LinePlot::new("p").series("a", &[1.0], &[1.0]).to_png(10, 400), "width");
    is_invalid(LinePlot::new("p").series("a", &[1.0], &[1.0]).size(720, 100_000).to_svg(), "height");
}

#[test]
fn png_plot_decodes_to_requested_size_with_text() {
    let fig = LinePlot::new("beta").x_label("t").series("linear", &ts(), &ts()).to_png(500, 300).unwrap();
    assert!(fig.svg().is_none());
    let img = decode(&fig);
    assert_eq!(img.dimensions(), (500, 300));
    // The title sits in the top band: without a font nothing dark would be drawn there.
    let dark = (0..500).flat_map(|x| (0..30).map(move |y| (x, y))).filter(|&(x, y)| img.get_pixel(x, y).0[0] < 128);
    assert!(dark.count() > 20, "the title did not render");
}

#[test]
fn histogram_is_a_density_and_overlays_curves() {
    // Deterministic samples spread over [0, 1): i / n.
    let samples: Vec<f64> = (0..1000).map(|i| f64::from(i) / 1000.0).collect();
    let hist = Histogram::new("uniform", &samples, 10).density("uniform density", &[0.0, 1.0], &[1.0, 1.0]);
    let bins = hist.bins().unwrap();
    assert_eq!(bins.len(), 10);
    // The bar areas sum to 1: sum of density * width.
    let area: f64 = bins.iter().map(|(a, b, d)| d * (b - a)).sum();
    assert!((area - 1.0).abs() < 1e-12, "area {area}");
    let svg = hist.clone().x_label("x").to_svg().unwrap();
    assert!(svg.svg().unwrap().contains("uniform density"));
    assert!(svg.svg().unwrap().contains("density"));
    assert_eq!(decode(&hist.to_png(400, 300).unwrap()).dimensions(), (400, 300));

    is_invalid(Histogram::new("h", &[], 10).to_svg(), "at least one sample");
    is_invalid(Histogram::new("h", &[1.0], 0).to_svg(), "bins");
    is_invalid(Histogram::new("h", &[1.0, f64::NAN], 3).to_svg(), "sample 1 is NaN");
    is_invalid(Histogram::new("h", &[1.0], 3).range(2.0, 1.0).to_svg(), "lo < hi");
    // All samples equal: still a valid histogram.
    Histogram::new("h", &[3.0; 5], 4).to_svg().unwrap();
}

#[test]
fn scatter_lists_its_point_sets() {
    let fig = Scatter::new("toy data")
        .x_label("x1")
        .y_label("x2")
        .points("data", &[(0.0, 0.0), (1.0, 1.0)])
        .points_xy("model samples", &[0.5], &[0.2])
        .to_svg()
        .unwrap();
    let svg = fig.svg().unwrap();
    for needle in ["toy data", "x1", "x2", "data", "model samples"] {
        assert!(svg.contains(needle), "SVG lacks {needle:?}");
    }
    assert_eq!(
        decode(&Scatter::new("s").points("a", &[(0.0, 0.0)]).to_png(300, 300).unwrap()).dimensions(),
        (300, 300)
    );
    is_invalid(Scatter::new("s").to_svg(), "at least one point set");
    is_invalid(Scatter::new("s").points_xy("a", &[1.0], &[]).to_svg(), "same length");
}

#[test]
fn pixel_mapping_and_round_trip() {
    // p = round(clamp(127.5 (v + 1), 0, 255)).
    assert_eq!(pixel_u8(-1.0), 0);
    assert_eq!(pixel_u8(1.0), 255);
    assert_eq!(pixel_u8(0.0), 128);
    assert_eq!(pixel_u8(-5.0), 0);
    assert_eq!(pixel_u8(5.0), 255);
    assert_eq!(pixel_u8(f64::INFINITY), 255);

    let mut x = Array3::<f64>::zeros((3, 2, 2));
    x[[0, 0, 0]] = -1.0;
    x[[1, 0, 0]] = 1.0;
    x[[2, 0, 0]] = 2.0;
    x[[0, 1, 1]] = -2.0;
    let img = to_rgb8(&x).unwrap();
    assert_eq!(img.get_pixel(0, 0).0, [0, 255, 255]);
    assert_eq!(img.get_pixel(1, 1).0, [0, 128, 128]);
    // Back to [-1, 1]: 0 -> -1, 255 -> 1, exactly.
    let back = from_rgb8(&img);
    assert_eq!(back.dim(), (3, 2, 2));
    assert_eq!((back[[0, 0, 0]], back[[1, 0, 0]]), (-1.0, 1.0));

    let grey = image::GrayImage::from_raw(2, 1, vec![0, 255]).unwrap();
    let g = from_luma8(&grey);
    assert_eq!(g.dim(), (1, 1, 2));
    assert_eq!(to_rgb8(&g).unwrap().get_pixel(1, 0).0, [255, 255, 255]);
}

#[test]
fn grid_has_expected_size_and_pixels() {
    let k = 7;
    let imgs: Vec<Array3<f64>> =
        (0..k).map(|i| Array3::from_elem((1, 5, 6), if i % 2 == 0 { -1.0 } else { 1.0 })).collect();
    let fig = grid(&imgs, 3, None, 2).unwrap();
    // 3 columns, 3 rows; cells 12 wide and 10 high, 4 pixels apart and around.
    let img = decode(&fig);
    assert_eq!(img.dimensions(), (4 + 3 * (12 + 4), 4 + 3 * (10 + 4)));
    assert_eq!(img.get_pixel(4, 4).0, [0, 0, 0], "image 0 is black");
    assert_eq!(img.get_pixel(4 + 16, 4).0, [255, 255, 255], "image 1 is white");
    assert_eq!(img.get_pixel(4 + 16 + 11, 4 + 9).0, [255, 255, 255]);
    assert_eq!(img.get_pixel(4 + 32, 4).0, [0, 0, 0], "image 2 is black");
    // More columns than images: one row of k.
    assert_eq!(decode(&grid(&imgs, 100, None, 1).unwrap()).dimensions(), (4 + k * 10, 4 + 9));
    assert_eq!(decode(&picture(&imgs[0], 3).unwrap()).dimensions(), (18, 15));
}

#[test]
fn captions_render_without_system_fonts() {
    let imgs = vec![Array3::<f64>::zeros((3, 20, 100)); 2];
    let blank = vec![String::new(), String::new()];
    let caps = vec!["t = 250".to_string(), "t = 500".to_string()];
    let without = decode(&grid(&imgs, 2, Some(&blank), 1).unwrap());
    let with = decode(&grid(&imgs, 2, Some(&caps), 1).unwrap());
    assert_eq!(with.dimensions(), without.dimensions());
    // The caption band is the top 4 + 22 rows; the text must darken some of its pixels.
    let changed = (0..with.width())
        .flat_map(|x| (0..26).map(move |y| (x, y)))
        .filter(|&(x, y)| with.get_pixel(x, y) != without.get_pixel(x, y))
        .count();
    assert!(changed > 30, "only {changed} caption pixels changed");
}

#[test]
fn strip_reproduces_figure_one_layout() {
    let x = Array3::<f64>::from_elem((3, 16, 16), 0.5);
    let steps = ["t = 0", "t = 250", "t = 500", "t = 750", "t = 1000"].map(String::from);
    let row = vec![x.clone(); steps.len()];
    let rows = vec![("linear".to_string(), row.clone()), ("cosine".to_string(), row)];
    let fig = strip(&rows, &steps, 4).unwrap();
    let img = decode(&fig);
    let (w, h) = img.dimensions();
    assert!(w > 5 * 64 && h >= 4 + 22 + 2 * (64 + 4), "strip is {w} x {h}");
    // Labels on the left: some dark pixels in the first columns, where no image is.
    let dark = (0..20).flat_map(|x| (0..h).map(move |y| (x, y))).filter(|&(x, y)| img.get_pixel(x, y).0[0] < 100);
    assert!(dark.count() > 10, "row labels did not render");

    is_invalid(strip(&[], &steps, 1), "at least one row");
    let ragged = vec![("a".to_string(), vec![x.clone(); 2]), ("b".to_string(), vec![x.clone()])];
    is_invalid(strip(&ragged, &[], 1), "row \"b\" has 1 images");
    is_invalid(strip(&rows, &steps[..2], 1), "column captions");
    let mut bad = rows.clone();
    bad[1].1[3] = Array3::zeros((3, 8, 8));
    is_invalid(strip(&bad, &steps, 1), "row \"cosine\", image 3");
}

#[test]
fn image_errors_are_errors() {
    is_invalid(grid(&[], 4, None, 1), "at least one image, got 0");
    let a = Array3::<f64>::zeros((1, 4, 4));
    let b = Array3::<f64>::zeros((1, 4, 5));
    is_invalid(grid(&[a.clone(), b], 2, None, 1), "image 1 has shape");
    is_invalid(grid(&[Array3::zeros((2, 4, 4))], 1, None, 1), "2 channels");
    let mut nan = a.clone();
    nan[[0, 2, 3]] = f64::NAN;
    is_invalid(grid(&[a.clone(), a.clone(), nan.clone()], 2, None, 1), "image 2 contains NaN at (c, y, x) = (0, 2, 3)");
    is_invalid(to_rgb8(&nan), "NaN");
    is_invalid(grid(std::slice::from_ref(&a), 0, None, 1), "column");
    is_invalid(grid(std::slice::from_ref(&a), 1, None, 0), "scale");
    is_invalid(
        grid(std::slice::from_ref(&a), 1, Some(&["x".to_string(), "y".to_string()]), 1),
        "2 captions for 1 images",
    );
    is_invalid(picture(&Array3::zeros((3, 0, 4)), 1), "empty");
}

#[test]
fn save_round_trips_and_creates_parent_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let x = Array3::<f64>::from_elem((1, 3, 3), 1.0);
    let fig = picture(&x, 2).unwrap();
    let png_path = dir.path().join("a/b/c/picture.png");
    fig.save(&png_path).unwrap();
    let back = image::open(&png_path).unwrap().to_rgb8();
    assert_eq!(back.dimensions(), (6, 6));
    assert_eq!(back.get_pixel(5, 5).0, [255, 255, 255]);
    assert_eq!(std::fs::read(&png_path).unwrap(), fig.png().unwrap());

    let plot = LinePlot::new("p").series("s", &[0.0, 1.0], &[0.0, 1.0]).to_svg().unwrap();
    let svg_path = dir.path().join("plots/p.svg");
    plot.save(&svg_path).unwrap();
    assert_eq!(std::fs::read_to_string(&svg_path).unwrap(), plot.svg().unwrap());
    // No temporary files are left behind.
    assert_eq!(std::fs::read_dir(dir.path().join("plots")).unwrap().count(), 1);

    is_invalid(plot.save(dir.path().join("p.png")), "SVG only");
    is_invalid(fig.save(dir.path().join("p.svg")), "PNG only");
    is_invalid(fig.save(dir.path().join("p.jpg")), ".svg or .png");
}

#[test]
fn evcxr_content_wraps_svg_and_png() {
    let svg = LinePlot::new("p").series("s", &[0.0, 1.0], &[0.0, 1.0]).to_svg().unwrap();
    let text = svg.evcxr_content();
    assert!(text.starts_with("EVCXR_BEGIN_CONTENT image/svg+xml\n<svg"));
    assert!(text.ends_with("</svg>\n\nEVCXR_END_CONTENT") || text.ends_with("</svg>\nEVCXR_END_CONTENT"));
    let png = picture(&Array3::zeros((1, 2, 2)), 1).unwrap().evcxr_content();
    assert!(png.starts_with("EVCXR_BEGIN_CONTENT image/png\niVBORw0KGgo"), "PNG magic in base64");
    assert!(png.ends_with("\nEVCXR_END_CONTENT"));
}

/// The chunk types of a PNG file, in order (PNG specification, section 5.3: length, type, data, CRC).
fn png_chunks(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let (mut at, mut chunks) = (8, Vec::new());
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let kind = String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned();
        chunks.push((kind, bytes[at + 8..at + 8 + len].to_vec()));
        at += 12 + len;
    }
    chunks
}

fn flat_frames(n: usize) -> Vec<ddpm::display::Figure> {
    (0..n)
        .map(|i| ddpm::display::picture(&Array3::from_elem((1, 3, 5), -1.0 + 2.0 * i as f64 / n as f64), 2).unwrap())
        .collect()
}

#[test]
fn an_animation_is_an_apng_with_one_fctl_per_frame() {
    let n = 4;
    let apng = ddpm::display::animation(&flat_frames(n), 80).unwrap();
    assert_eq!(apng.size(), (10, 6));
    let chunks = png_chunks(apng.png().unwrap());
    let kinds: Vec<&str> = chunks.iter().map(|(k, _)| k.as_str()).collect();
    // acTL: num_frames, num_plays (APNG: acTL comes before the first IDAT).
    let actl = chunks.iter().position(|(k, _)| k == "acTL").expect("acTL");
    assert!(actl < kinds.iter().position(|k| *k == "IDAT").unwrap());
    let data = &chunks[actl].1;
    assert_eq!(u32::from_be_bytes(data[0..4].try_into().unwrap()), n as u32, "num_frames");
    assert_eq!(u32::from_be_bytes(data[4..8].try_into().unwrap()), 0, "num_plays 0: loop forever");
    let fctl: Vec<&Vec<u8>> = chunks.iter().filter(|(k, _)| k == "fcTL").map(|(_, d)| d).collect();
    assert_eq!(fctl.len(), n);
    // fcTL bytes 20..24: delay numerator and denominator (u16 each).
    assert_eq!(
        (u16::from_be_bytes([fctl[0][20], fctl[0][21]]), u16::from_be_bytes([fctl[0][22], fctl[0][23]])),
        (80, 1000)
    );
    assert_eq!(kinds.last(), Some(&"IEND"));
    // A plain PNG reader sees the first frame.
    let first = image::load_from_memory(apng.png().unwrap()).unwrap().to_rgb8();
    assert_eq!(first.get_pixel(0, 0).0, [0, 0, 0]);
}

#[test]
fn an_animation_refuses_no_frames_svg_frames_and_mixed_sizes() {
    let err = ddpm::display::animation(&[], 80).unwrap_err().to_string();
    assert!(err.contains("at least one frame"), "{err}");
    let svg = ddpm::display::LinePlot::new("p").series("a", &[0.0, 1.0], &[0.0, 1.0]).to_svg().unwrap();
    let err = ddpm::display::animation(&[svg], 80).unwrap_err().to_string();
    assert!(err.contains("frame 0") && err.contains("to_png"), "{err}");
    let mut frames = flat_frames(2);
    frames.push(ddpm::display::picture(&Array3::from_elem((1, 4, 4), 0.0), 1).unwrap());
    let err = ddpm::display::animation(&frames, 80).unwrap_err().to_string();
    assert!(err.contains("frame 2") && err.contains("(4, 4)"), "{err}");
}

#[test]
fn a_slider_holds_every_frame_and_the_script_that_moves_it() {
    let n = 5;
    let labels: Vec<String> = (0..n).map(|t| format!("t = {t}")).collect();
    let s = ddpm::display::Slider::new(&flat_frames(n), &labels, 2).unwrap();
    let html = s.html();
    assert_eq!(s.frames(), n);
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), n);
    assert!(html.contains(&format!("max=\"{}\"", n - 1)) && html.contains("value=\"2\""));
    assert!(html.contains("<script>") && html.contains("addEventListener(\"input\"") && html.contains("show(2)"));
    assert!(html.contains(r#"["t = 0","t = 1","t = 2","t = 3","t = 4"]"#));
    // Two sliders on one page do not share an id.
    let other = ddpm::display::Slider::new(&flat_frames(n), &labels, 0).unwrap();
    let id = |h: &str| h.split('"').nth(1).unwrap().to_string();
    assert_ne!(id(html), id(other.html()));
    // No label can end the script early.
    let s = ddpm::display::Slider::new(&flat_frames(1), &["</script>".to_string()], 0).unwrap();
    assert_eq!(s.html().matches("</script>").count(), 1);
}

#[test]
fn a_slider_refuses_mismatched_labels_and_a_start_out_of_range() {
    let err = ddpm::display::Slider::new(&flat_frames(2), &["a".to_string()], 0).unwrap_err().to_string();
    assert!(err.contains("2 frames and 1 labels"), "{err}");
    let labels = vec!["a".to_string(), "b".to_string()];
    let err = ddpm::display::Slider::new(&flat_frames(2), &labels, 2).unwrap_err().to_string();
    assert!(err.contains("start") && err.contains("0..2"), "{err}");
}

#[test]
fn arrow_dots_trail_each_base_point_along_its_direction() {
    let dots = ddpm::display::arrow_dots(&[(1.0, 1.0), (0.0, 0.0)], &[(0.0, -2.0), (3.0, 4.0)], 0.25, 2).unwrap();
    // p + k * spacing * d, k = 1, 2, by hand.
    assert_eq!(dots, vec![(1.0, 0.5), (1.0, 0.0), (0.75, 1.0), (1.5, 2.0)]);
    let err = ddpm::display::arrow_dots(&[(0.0, 0.0)], &[], 0.1, 3).unwrap_err().to_string();
    assert!(err.contains("1 points and 0 directions"), "{err}");
}

#[test]
fn figure_html_carries_the_picture_itself() {
    // The <img> of a PNG figure decodes back to the same bytes; an SVG figure inlines its document.
    let imgs: Vec<Array3<f64>> = vec![Array3::from_elem((1, 5, 6), 1.0)];
    let fig = grid(&imgs, 1, None, 1).unwrap();
    let html = fig.html();
    let (w, h) = fig.size();
    assert!(html.contains(&format!("width=\"{w}\" height=\"{h}\"")), "{html}");
    let b64 = html.split("data:image/png;base64,").nth(1).unwrap().split('"').next().unwrap();
    use base64::Engine;
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(b64).unwrap(), fig.png().unwrap());
    let svg = LinePlot::new("t").series("a", &ts(), &alpha_bar_linear()).to_svg().unwrap();
    let b64 = svg.html().split("data:image/svg+xml;base64,").nth(1).unwrap().split('"').next().unwrap().to_string();
    let text = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap();
    assert_eq!(text, svg.svg().unwrap());
}
