//! A PowerShell hand-off script that applies the recommended packages with DISM, in Microsoft's order.
//!
//! mediaprep cannot run DISM in a browser; for everything it does not service itself, the user gets a
//! script that follows "Update Windows installation media with Dynamic Update" (learn.microsoft.com):
//! WinRE gets the servicing stack from the LCU (0x8007007e tolerated, as Microsoft's own script does),
//! then the Safe OS DU, cleanup with /ResetBase and an export; install.wim gets the LCU and cleanup
//! without /ResetBase; boot.wim gets the LCU with 0x8007007e tolerated; the Setup DU is expanded into
//! `sources\`. Package paths are placeholders the script refuses to run with.

use crate::catalog::{Evaluation, Target, UpdateKind};

/// Folders and files the script works with (all Windows paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptPaths {
    /// A writable copy of the media's contents (the folder holding `sources\`).
    pub media_root: String,
    /// Scratch folder for winre.wim, exported images and saved Setup binaries.
    pub work_dir: String,
    /// Empty folder used as the mount point root.
    pub mount_dir: String,
    /// Folder the packages were downloaded to.
    pub packages_dir: String,
}

impl Default for ScriptPaths {
    fn default() -> Self {
        ScriptPaths {
            media_root: r"C:\mediaprep\media".into(),
            work_dir: r"C:\mediaprep\work".into(),
            mount_dir: r"C:\mediaprep\mount".into(),
            packages_dir: r"C:\mediaprep\packages".into(),
        }
    }
}

/// Quote for a PowerShell single-quoted string.
fn ps_quote(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("'{}'", clean.replace('\'', "''"))
}

/// Text safe for a one-line PowerShell comment.
fn ps_comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace("#>", "# >")
}

/// Recommended KBs of `kinds` for `target`, newest first, without duplicates.
fn kbs(ev: &Evaluation, target: Target, kinds: &[UpdateKind]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in ev
        .recommendations
        .iter()
        .filter(|r| r.target == target && kinds.contains(&r.kind))
    {
        if !out.contains(&r.kb) {
            out.push(r.kb.clone());
        }
    }
    out
}

const HELPERS: &str = r#"$ErrorActionPreference = 'Stop'

# Runs dism.exe and throws on failure, except for exit codes Microsoft documents as ignorable here.
function Invoke-Dism {
    param([string[]]$Arguments, [int[]]$Tolerate = @())
    & dism.exe @Arguments
    $code = $LASTEXITCODE
    if ($code -ne 0 -and $Tolerate -notcontains $code) {
        throw ("DISM failed with 0x{0:X8}: dism {1}" -f $code, ($Arguments -join ' '))
    }
    if ($code -ne 0) {
        Write-Warning ("DISM returned 0x{0:X8}; Microsoft documents this as a known, ignorable issue here" -f $code)
    }
}

function Assert-Package {
    param([string]$Name, [string]$Path)
    if ($Path -match '^<' -or -not (Test-Path -LiteralPath $Path)) {
        throw "Set `$$Name to the downloaded package (currently: $Path)"
    }
}

# 0x8007007e as DISM's exit code: adding the combined cumulative update to WinRE/WinPE reports it.
$E_MOD_NOT_FOUND = -2147024770
"#;

/// The PowerShell script for `evaluation`'s recommendations.
pub fn dism_script(evaluation: &Evaluation, paths: &ScriptPaths) -> String {
    let lcu_kinds = [UpdateKind::Ssu, UpdateKind::CheckpointLcu, UpdateKind::Lcu];
    let winre_lcu = kbs(evaluation, Target::Winre, &lcu_kinds);
    let safeos = kbs(evaluation, Target::Winre, &[UpdateKind::SafeosDu]);
    let install_lcu = kbs(evaluation, Target::Install, &lcu_kinds);
    let dotnet = kbs(evaluation, Target::Install, &[UpdateKind::Dotnet]);
    let boot_lcu = kbs(evaluation, Target::Boot, &lcu_kinds);
    let setup = kbs(evaluation, Target::MediaSources, &[UpdateKind::SetupDu]);
    let do_winre = !safeos.is_empty() || !winre_lcu.is_empty();
    let do_install = do_winre || !install_lcu.is_empty() || !dotnet.is_empty();
    let do_boot = !boot_lcu.is_empty();
    let do_media = !setup.is_empty();

    let mut s = String::new();
    s.push_str("#Requires -RunAsAdministrator\n");
    s.push_str(&format!(
        "# mediaprep {} hand-off script (catalog {}).\n",
        env!("CARGO_PKG_VERSION"),
        ps_comment(&evaluation.catalog_version)
    ));
    s.push_str(
        "# Applies the recommended packages with DISM in the order of Microsoft's \"Update Windows\n\
         # installation media with Dynamic Update\". Review it, download the packages from the\n\
         # Microsoft Update Catalog, fill in the paths below, then run it elevated on Windows.\n#\n",
    );
    for r in &evaluation.recommendations {
        s.push_str(&format!(
            "#   {} -> {} ({})\n",
            ps_comment(&r.image_label),
            ps_comment(&r.kb),
            ps_comment(r.kind.label())
        ));
    }
    if evaluation.recommendations.is_empty() {
        s.push_str("#   Nothing to apply: no recommended update.\n");
    }
    s.push('\n');
    s.push_str(HELPERS);
    s.push_str(&format!(
        "\n$Media = {}\n$Work = {}\n$Mount = {}\n$Packages = {}\n",
        ps_quote(&paths.media_root),
        ps_quote(&paths.work_dir),
        ps_quote(&paths.mount_dir),
        ps_quote(&paths.packages_dir)
    ));
    let need_lcu = !winre_lcu.is_empty() || !install_lcu.is_empty() || !boot_lcu.is_empty();
    if need_lcu {
        let mut all = winre_lcu.clone();
        for k in install_lcu.iter().chain(boot_lcu.iter()) {
            if !all.contains(k) {
                all.push(k.clone());
            }
        }
        s.push_str(&format!(
            "# Cumulative update {}: put the .msu (and, for 24H2 / Server 2025, its checkpoint .msu\n\
             # files) alone in one folder; DISM then applies the checkpoints itself.\n\
             $LCU_PATH = {}\n",
            ps_comment(&all.join(", ")),
            ps_quote(&format!("<path to the {} .msu>", all.join(" / ")))
        ));
    }
    if !safeos.is_empty() {
        s.push_str(&format!(
            "# Safe OS Dynamic Update {}\n$SAFE_OS_DU_PATH = {}\n",
            ps_comment(&safeos.join(", ")),
            ps_quote(&format!("<path to the {} .cab>", safeos.join(" / ")))
        ));
    }
    if !dotnet.is_empty() {
        s.push_str(&format!(
            "# .NET cumulative update {}\n$DOTNET_CU_PATH = {}\n",
            ps_comment(&dotnet.join(", ")),
            ps_quote(&format!("<path to the {} .msu>", dotnet.join(" / ")))
        ));
    }
    if do_media {
        s.push_str(&format!(
            "# Setup Dynamic Update {}\n$SETUP_DU_PATH = {}\n",
            ps_comment(&setup.join(", ")),
            ps_quote(&format!("<path to the {} .cab>", setup.join(" / ")))
        ));
    }
    s.push('\n');
    if need_lcu {
        s.push_str("Assert-Package 'LCU_PATH' $LCU_PATH\n");
    }
    if !safeos.is_empty() {
        s.push_str("Assert-Package 'SAFE_OS_DU_PATH' $SAFE_OS_DU_PATH\n");
    }
    if !dotnet.is_empty() {
        s.push_str("Assert-Package 'DOTNET_CU_PATH' $DOTNET_CU_PATH\n");
    }
    if do_media {
        s.push_str("Assert-Package 'SETUP_DU_PATH' $SETUP_DU_PATH\n");
    }
    s.push_str(
        "New-Item -ItemType Directory -Force -Path $Work, \"$Mount\\main\", \"$Mount\\winre\", \
         \"$Mount\\boot\" | Out-Null\n\
         Get-ChildItem -LiteralPath $Media -Recurse | ForEach-Object { $_.IsReadOnly = $false }\n",
    );

    if do_winre {
        s.push_str(
            "\n# ---- WinRE: steps 1 (servicing stack from the LCU), 6 (Safe OS DU), 7 (cleanup), 8 (export)\n\
             Invoke-Dism @('/Mount-Image', \"/ImageFile:$Media\\sources\\install.wim\", '/Index:1', \"/MountDir:$Mount\\main\", '/ReadOnly')\n\
             Copy-Item -LiteralPath \"$Mount\\main\\Windows\\System32\\Recovery\\winre.wim\" -Destination \"$Work\\winre.wim\" -Force\n\
             Invoke-Dism @('/Unmount-Image', \"/MountDir:$Mount\\main\", '/Discard')\n\
             Set-ItemProperty -LiteralPath \"$Work\\winre.wim\" -Name IsReadOnly -Value $false\n\
             Invoke-Dism @('/Mount-Image', \"/ImageFile:$Work\\winre.wim\", '/Index:1', \"/MountDir:$Mount\\winre\")\n",
        );
        if !winre_lcu.is_empty() {
            s.push_str(
                "Invoke-Dism @('/Add-Package', \"/Image:$Mount\\winre\", \"/PackagePath:$LCU_PATH\") -Tolerate @($E_MOD_NOT_FOUND)\n",
            );
        }
        if !safeos.is_empty() {
            s.push_str(
                "Invoke-Dism @('/Add-Package', \"/Image:$Mount\\winre\", \"/PackagePath:$SAFE_OS_DU_PATH\")\n",
            );
        }
        s.push_str(
            "Invoke-Dism @(\"/Image:$Mount\\winre\", '/Cleanup-Image', '/StartComponentCleanup', '/ResetBase')\n\
             Invoke-Dism @('/Unmount-Image', \"/MountDir:$Mount\\winre\", '/Commit')\n\
             Invoke-Dism @('/Export-Image', \"/SourceImageFile:$Work\\winre.wim\", '/SourceIndex:1', \"/DestinationImageFile:$Work\\winre2.wim\")\n",
        );
    }

    if do_install {
        s.push_str(
            "\n# ---- install.wim: steps 9/13 (LCU), 14 (cleanup, no /ResetBase), 15 (.NET), 16 (export)\n\
             $indexes = (Get-WindowsImage -ImagePath \"$Media\\sources\\install.wim\").ImageIndex\n\
             foreach ($i in $indexes) {\n\
             \x20   Invoke-Dism @('/Mount-Image', \"/ImageFile:$Media\\sources\\install.wim\", \"/Index:$i\", \"/MountDir:$Mount\\main\")\n",
        );
        if do_winre {
            s.push_str(
                "    Copy-Item -LiteralPath \"$Work\\winre2.wim\" -Destination \"$Mount\\main\\Windows\\System32\\Recovery\\winre.wim\" -Force\n",
            );
        }
        if !install_lcu.is_empty() {
            s.push_str(
                "    Invoke-Dism @('/Add-Package', \"/Image:$Mount\\main\", \"/PackagePath:$LCU_PATH\")\n\
                 \x20   Invoke-Dism @(\"/Image:$Mount\\main\", '/Cleanup-Image', '/StartComponentCleanup')\n",
            );
        }
        if !dotnet.is_empty() {
            s.push_str(
                "    Invoke-Dism @('/Add-Package', \"/Image:$Mount\\main\", \"/PackagePath:$DOTNET_CU_PATH\")\n",
            );
        }
        s.push_str(
            "    Invoke-Dism @('/Unmount-Image', \"/MountDir:$Mount\\main\", '/Commit')\n\
             \x20   Invoke-Dism @('/Export-Image', \"/SourceImageFile:$Media\\sources\\install.wim\", \"/SourceIndex:$i\", \"/DestinationImageFile:$Work\\install2.wim\")\n\
             }\n\
             Move-Item -LiteralPath \"$Work\\install2.wim\" -Destination \"$Media\\sources\\install.wim\" -Force\n",
        );
    }

    if do_boot || do_media {
        s.push_str(
            "\n# ---- boot.wim: steps 17/23 (LCU, 0x8007007e tolerated), 24 (cleanup), 25 (export)\n\
             $indexes = (Get-WindowsImage -ImagePath \"$Media\\sources\\boot.wim\").ImageIndex\n\
             foreach ($i in $indexes) {\n\
             \x20   Invoke-Dism @('/Mount-Image', \"/ImageFile:$Media\\sources\\boot.wim\", \"/Index:$i\", \"/MountDir:$Mount\\boot\")\n",
        );
        if do_boot {
            s.push_str(
                "    Invoke-Dism @('/Add-Package', \"/Image:$Mount\\boot\", \"/PackagePath:$LCU_PATH\") -Tolerate @($E_MOD_NOT_FOUND)\n\
                 \x20   Invoke-Dism @(\"/Image:$Mount\\boot\", '/Cleanup-Image', '/StartComponentCleanup', '/ResetBase')\n",
            );
        }
        s.push_str(
            "    if ($i -eq 2) {\n\
             \x20       # Setup on the media must be identical to the serviced Setup in boot.wim index 2.\n\
             \x20       Copy-Item -LiteralPath \"$Mount\\boot\\sources\\setup.exe\" -Destination $Work -Force\n\
             \x20       if (Test-Path -LiteralPath \"$Mount\\boot\\sources\\setuphost.exe\") { Copy-Item -LiteralPath \"$Mount\\boot\\sources\\setuphost.exe\" -Destination $Work -Force }\n\
             \x20       Copy-Item -LiteralPath \"$Mount\\boot\\Windows\\Boot\\EFI\\bootmgfw.efi\" -Destination $Work -Force\n\
             \x20       Copy-Item -LiteralPath \"$Mount\\boot\\Windows\\Boot\\EFI\\bootmgr.efi\" -Destination $Work -Force\n\
             \x20   }\n",
        );
        s.push_str(&format!(
            "    Invoke-Dism @('/Unmount-Image', \"/MountDir:$Mount\\boot\", '{}')\n",
            if do_boot { "/Commit" } else { "/Discard" }
        ));
        if do_boot {
            s.push_str(
                "    Invoke-Dism @('/Export-Image', \"/SourceImageFile:$Media\\sources\\boot.wim\", \"/SourceIndex:$i\", \"/DestinationImageFile:$Work\\boot2.wim\")\n\
                 }\n\
                 Move-Item -LiteralPath \"$Work\\boot2.wim\" -Destination \"$Media\\sources\\boot.wim\" -Force\n",
            );
        } else {
            s.push_str("}\n");
        }
    }

    if do_media {
        s.push_str(
            "\n# ---- Media: step 26 (expand the Setup DU into sources\\, not DISM), 27 (Setup binaries), 28 (boot managers)\n\
             & expand.exe $SETUP_DU_PATH -F:* \"$Media\\sources\"\n\
             if ($LASTEXITCODE -ne 0) { throw \"expand.exe failed with $LASTEXITCODE\" }\n\
             Copy-Item -LiteralPath \"$Work\\setup.exe\" -Destination \"$Media\\sources\\setup.exe\" -Force\n\
             if (Test-Path -LiteralPath \"$Work\\setuphost.exe\") { Copy-Item -LiteralPath \"$Work\\setuphost.exe\" -Destination \"$Media\\sources\\setuphost.exe\" -Force }\n\
             Get-ChildItem -LiteralPath $Media -Recurse -Include bootmgfw.efi, bootx64.efi, bootia32.efi, bootaa64.efi | ForEach-Object { Copy-Item -LiteralPath \"$Work\\bootmgfw.efi\" -Destination $_.FullName -Force }\n\
             Get-ChildItem -LiteralPath $Media -Recurse -Include bootmgr.efi | ForEach-Object { Copy-Item -LiteralPath \"$Work\\bootmgr.efi\" -Destination $_.FullName -Force }\n",
        );
    }
    s.push_str("\nWrite-Host 'Done. Rebuild the ISO from' $Media\n");
    s
}
