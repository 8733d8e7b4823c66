//! mediaprep web app.
