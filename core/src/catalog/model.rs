//! The catalog's data model: one [`Update`] per Microsoft KB, as stored in `core/data/catalog.json`.
//!
//! The model is deliberately permissive about what we do not know: every fact that could not be sourced
//! (revision, title, file digests) is an `Option`, so the data never has to guess to satisfy a type.

use serde::{Deserialize, Serialize};

/// What kind of package a KB is; decides which image it services and how it is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateKind {
    /// Safe OS Dynamic Update: a CBS .cab added to WinRE with DISM (`Package_for_SafeOSDU`).
    SafeosDu,
    /// Setup Dynamic Update: a plain .cab expanded into the media's `sources\` folder.
    SetupDu,
    /// Standalone servicing stack update (rare since the SSU was folded into the LCU in 2021).
    Ssu,
    /// Latest cumulative update (.msu); its embedded SSU is also the first step for WinRE.
    Lcu,
    /// A checkpoint cumulative update (24H2 / Server 2025 onward), a prerequisite of later LCUs.
    CheckpointLcu,
    /// .NET Framework cumulative update (added to install.wim after cleanup).
    Dotnet,
}

impl UpdateKind {
    /// Plain-words name for reports.
    pub fn label(self) -> &'static str {
        match self {
            UpdateKind::SafeosDu => "Safe OS Dynamic Update",
            UpdateKind::SetupDu => "Setup Dynamic Update",
            UpdateKind::Ssu => "Servicing stack update",
            UpdateKind::Lcu => "Cumulative update",
            UpdateKind::CheckpointLcu => "Checkpoint cumulative update",
            UpdateKind::Dotnet => ".NET cumulative update",
        }
    }

    /// The JSON spelling (`safeos-du`, `lcu`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateKind::SafeosDu => "safeos-du",
            UpdateKind::SetupDu => "setup-du",
            UpdateKind::Ssu => "ssu",
            UpdateKind::Lcu => "lcu",
            UpdateKind::CheckpointLcu => "checkpoint-lcu",
            UpdateKind::Dotnet => "dotnet",
        }
    }
}

/// Which part of the media an update services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// `Windows\System32\Recovery\Winre.wim` inside install.wim.
    Winre,
    /// Every index of `sources\install.wim` / `install.esd`.
    Install,
    /// Every index of `sources\boot.wim` (WinPE + Setup).
    Boot,
    /// The loose files of the media's `sources\` folder (Setup DU is expanded there).
    MediaSources,
}

impl Target {
    /// Plain-words name for reports.
    pub fn label(self) -> &'static str {
        match self {
            Target::Winre => "WinRE (winre.wim)",
            Target::Install => "install.wim",
            Target::Boot => "boot.wim",
            Target::MediaSources => "media sources\\ folder",
        }
    }
}

/// How far a catalog entry's facts can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Confidence {
    /// Read on a Microsoft page (support.microsoft.com, learn.microsoft.com, the Update Catalog).
    Microsoft,
    /// A third-party page that quotes or links the Microsoft KB page; verify before relying on it.
    #[default]
    ThirdPartyQuotingMicrosoft,
    /// A third-party page only; treat as a lead.
    ThirdParty,
}

/// One downloadable file of an update, with digests when the KB page publishes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateFile {
    /// File name as published (e.g. `windows11.0-kb5079471-x64_<sha1>.cab`).
    pub name: String,
    /// Lower-case hex SHA-1, when known.
    #[serde(default)]
    pub sha1: Option<String>,
    /// Lower-case hex SHA-256, when known.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Size in bytes, when known.
    #[serde(default)]
    pub size: Option<u64>,
}

/// One Microsoft update (one KB number) and everything the applicability engine needs about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Update {
    /// `KB` followed by 6–7 digits.
    pub kb: String,
    /// Package type.
    pub kind: UpdateKind,
    /// Title as Microsoft words it (KB article or Update Catalog title); `None` when not sourced.
    #[serde(default)]
    pub title: Option<String>,
    /// ISO date `YYYY-MM-DD` of release; `None` when not sourced.
    #[serde(default)]
    pub release_date: Option<String>,
    /// Products as Microsoft names them ("Windows 11, version 24H2", "Windows Server 2025").
    #[serde(default)]
    pub products: Vec<String>,
    /// The CBS/WinRE build the packages carry (22621 for 22H2/23H2, 26100 for 24H2/25H2/Server 2025,
    /// 19041 for Windows 10 2004–22H2, 20348 for Server 2022).
    #[serde(default)]
    pub build_family: Option<u32>,
    /// OS builds (WIM XML `BUILD`) of the products the update is for.
    #[serde(default)]
    pub os_builds: Vec<u32>,
    /// The revision (UBR) the update brings: OS build revision for LCUs, WinRE revision
    /// ("WinRE version should be 10.0.B.R") for Safe OS DUs; `None` when not sourced.
    #[serde(default)]
    pub revision: Option<u32>,
    /// Processor architectures (`x86`, `x64`, `arm64`) the update is published for.
    #[serde(default)]
    pub architectures: Vec<String>,
    /// What the update services.
    #[serde(default)]
    pub targets: Vec<Target>,
    /// KBs this update replaces, as the KB page states.
    #[serde(default)]
    pub supersedes: Vec<String>,
    /// KBs that replace this update.
    #[serde(default)]
    pub superseded_by: Vec<String>,
    /// Downloadable files, only when their names/digests were published.
    #[serde(default)]
    pub files: Vec<UpdateFile>,
    /// URL of the page the facts were read on (or the Microsoft page it cites).
    pub source: String,
    /// How far the facts can be trusted.
    #[serde(default)]
    pub confidence: Confidence,
    /// Free text: caveats, conflicting sources, what is still unknown.
    #[serde(default)]
    pub notes: Option<String>,
}

/// Which side of the client/server split a product list (or an image) is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProductSide {
    /// Windows 10 / Windows 11.
    Client,
    /// Windows Server.
    Server,
}

impl Update {
    /// Whether any listed product is a Windows Server release.
    pub fn for_server(&self) -> bool {
        self.products.iter().any(|p| p.contains("Server"))
    }

    /// Whether any listed product is a client (Windows 10/11) release.
    pub fn for_client(&self) -> bool {
        self.products
            .iter()
            .any(|p| p.starts_with("Windows 10") || p.starts_with("Windows 11"))
    }

    /// Whether the update is published for `side`.
    pub fn for_side(&self, side: ProductSide) -> bool {
        match side {
            ProductSide::Client => self.for_client(),
            ProductSide::Server => self.for_server(),
        }
    }

    /// Whether the update services `target`.
    pub fn services(&self, target: Target) -> bool {
        self.targets.contains(&target)
    }

    /// A one-line human name: "KB5079471 (Safe OS Dynamic Update, 2026-03-10)".
    pub fn display(&self) -> String {
        format!(
            "{} ({}, {})",
            self.kb,
            self.kind.label(),
            self.release_date.as_deref().unwrap_or("date unknown")
        )
    }
}

/// The whole catalog file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Schema version of the file format; this code reads version 1.
    pub schema: u32,
    /// Data version, `YYYY.MM.DD` of the last research pass.
    pub version: String,
    /// When and how the file was produced (free text / ISO date).
    #[serde(default)]
    pub generated: String,
    /// The updates, in any order.
    pub updates: Vec<Update>,
}

impl Catalog {
    /// A catalog (schema 1) of data version `version` with no update in it; `generated` says when
    /// and how it was made.
    pub fn empty(version: &str, generated: &str) -> Catalog {
        Catalog {
            schema: 1,
            version: version.into(),
            generated: generated.into(),
            updates: Vec::new(),
        }
    }

    /// The entry for `kb` (case-insensitive), if present.
    pub fn get(&self, kb: &str) -> Option<&Update> {
        self.updates.iter().find(|u| u.kb.eq_ignore_ascii_case(kb))
    }
}

/// One package to add to one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommendation {
    /// Index into the `images` slice.
    pub image: usize,
    /// The image's label.
    pub image_label: String,
    /// What is serviced.
    pub target: Target,
    /// The KB to add.
    pub kb: String,
    /// Its kind.
    pub kind: UpdateKind,
    /// Its title, when known.
    pub title: Option<String>,
    /// Its release date, when known.
    pub release_date: Option<String>,
    /// Why this one.
    pub reason: String,
}
