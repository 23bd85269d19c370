//! A slider over frames: one `text/html` output holding every frame as a `data:` URI and a few
//! lines of inline script that show the frame the range input selects. evcxr has no widgets;
//! this needs none, and it works in JupyterLab and in nbconvert's HTML alike (without script,
//! every frame shows, one after another).

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;

use crate::{Error, Result};

use super::Figure;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Frames with a slider under them, as HTML (see the module doc).
#[derive(Clone, Debug, PartialEq)]
pub struct Slider {
    html: String,
}

impl Slider {
    /// A slider over `frames` (PNG or SVG figures), `labels[i]` shown beside the slider when
    /// frame i is selected (e.g. "t = 250"); starts at frame `start`.
    ///
    /// ```
    /// use ddpm::display::{picture, Slider};
    /// use ddpm::ndarray::Array3;
    /// let frames: Vec<_> = [-1.0, 1.0].iter().map(|&v| picture(&Array3::from_elem((1, 2, 2), v), 1)).collect::<Result<_, _>>()?;
    /// let s = Slider::new(&frames, &["t = 0".to_string(), "t = 1".to_string()], 0)?;
    /// assert_eq!(s.html().matches("<img").count(), 2);
    /// assert!(s.html().contains("type=\"range\"") && s.html().contains("<script>"));
    /// # Ok::<(), ddpm::Error>(())
    /// ```
    pub fn new(frames: &[Figure], labels: &[String], start: usize) -> Result<Slider> {
        if frames.is_empty() || frames.len() != labels.len() {
            return Err(invalid!(
                "a slider needs at least one frame and one label per frame, got {} frames and {} labels",
                frames.len(),
                labels.len()
            ));
        }
        if start >= frames.len() {
            return Err(Error::out_of_range("start", start, format!("0..{}", frames.len())));
        }
        let id = format!("ddpm-slider-{}-{}", std::process::id(), NEXT_ID.fetch_add(1, Ordering::Relaxed));
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let mut html = format!("<div id=\"{id}\" class=\"ddpm-slider\">\n");
        for (i, f) in frames.iter().enumerate() {
            let uri = match (f.png(), f.svg()) {
                (Some(png), _) => format!("data:image/png;base64,{}", b64(png)),
                (None, Some(svg)) => format!("data:image/svg+xml;base64,{}", b64(svg.as_bytes())),
                (None, None) => return Err(invalid!("frame {i} holds neither PNG nor SVG")),
            };
            let (w, h) = f.size();
            html.push_str(&format!(
                "<img class=\"ddpm-frame\" width=\"{w}\" height=\"{h}\" alt=\"{}\" src=\"{uri}\">\n",
                escape(&labels[i])
            ));
        }
        // As JSON inside <script>: "<" escaped so that no label can close the script element.
        let labels_js =
            serde_json::to_string(labels).map_err(|e| invalid!("labels as JSON: {e}"))?.replace('<', "\\u003c");
        html.push_str(&format!(
            "<div><input type=\"range\" min=\"0\" max=\"{}\" step=\"1\" value=\"{start}\" style=\"width:60%\"> \
             <span class=\"ddpm-label\"></span></div>\n</div>\n",
            frames.len() - 1
        ));
        html.push_str(&format!(
            "<script>\n(function () {{\n  var root = document.getElementById(\"{id}\"), labels = {labels_js};\n  \
             var frames = root.querySelectorAll(\"img.ddpm-frame\"), input = root.querySelector(\"input\");\n  \
             function show(i) {{\n    frames.forEach(function (f, k) {{ f.style.display = k === i ? \"block\" : \"none\"; }});\n    \
             root.querySelector(\".ddpm-label\").textContent = labels[i];\n  }}\n  \
             input.addEventListener(\"input\", function () {{ show(Number(input.value)); }});\n  show({start});\n}})();\n</script>"
        ));
        Ok(Slider { html })
    }

    /// The HTML: the frames, the range input and the script.
    pub fn html(&self) -> &str {
        &self.html
    }

    /// Number of frames.
    pub fn frames(&self) -> usize {
        self.html.matches("<img class=\"ddpm-frame\"").count()
    }

    /// Shows the slider in a Jupyter notebook run by the evcxr kernel, as `text/html`.
    pub fn evcxr_display(&self) {
        println!("EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT", self.html);
    }

    /// Writes the slider as a stand-alone HTML page.
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let page = format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n{}\n</body></html>\n",
            self.html
        );
        crate::atomic::write(path.as_ref(), page.as_bytes())
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
