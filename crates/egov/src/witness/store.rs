//! What a witness keeps in its state directory: its key (`witness-key`, its public half in
//! `witness-key.pub`), its own copy of the log's leaves (`leaves`, 32 bytes each, in index order),
//! the last head it accepted (`accepted`, the log's signed note), and the evidence of every alarm
//! (`evidence-<time>.json`, and `alarm` naming the first). Files are replaced by rename, and the
//! leaves are synced before the head that covers them, so a crash leaves a state that resumes.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use domain::merkle::frontier::Frontier;
use domain::merkle::Hash;
use domain::tree_head::cosignature::WitnessSigner;
use domain::tree_head::{NoteVerifier, TreeHead};

/// The state directory.
pub struct Store {
    dir: PathBuf,
}

/// What the witness had accepted when it (re)started.
pub struct Accepted {
    pub head: Option<(TreeHead, String)>,
    pub frontier: Frontier,
}

impl Store {
    /// The state in `dir`, created when missing.
    ///
    /// # Errors
    /// When the directory cannot be made.
    pub fn open(dir: &Path) -> anyhow::Result<Store> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
        Ok(Store {
            dir: dir.to_owned(),
        })
    }

    /// The witness's key, made (named `name`) on first use.
    ///
    /// # Errors
    /// When the key file cannot be read, written or parsed.
    pub fn key(&self, name: &str) -> anyhow::Result<WitnessSigner> {
        let path = self.dir.join("witness-key");
        if !path.exists() {
            let mut seed = [0u8; 32];
            openssl::rand::rand_bytes(&mut seed).context("no randomness for a key")?;
            let signer = WitnessSigner::from_seed(name, seed)?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            writeln!(file, "{}", signer.to_private_text())?;
            file.sync_all()?;
            std::fs::write(
                self.dir.join("witness-key.pub"),
                format!("{}\n", signer.verifier()),
            )?;
        }
        let text = std::fs::read_to_string(&path)?;
        Ok(WitnessSigner::parse(&text)?)
    }

    /// The accepted head and the tree of the leaves kept, checked against each other (and the
    /// head against the log's key).
    ///
    /// # Errors
    /// A state that does not hold together (the leaves do not make the accepted head).
    pub fn accepted(&self, log: &NoteVerifier) -> anyhow::Result<Accepted> {
        let mut frontier = Frontier::default();
        let note = match std::fs::read_to_string(self.dir.join("accepted")) {
            Ok(note) => Some(note),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(error).context("cannot read the accepted head"),
        };
        let head = match note {
            None => None,
            Some(note) => Some((log.verify(&note).context("the accepted head")?, note)),
        };
        let size = head.as_ref().map_or(0, |(head, _)| head.size);
        if head.is_none() && !self.leaves(0, 1)?.is_empty() {
            // Starting over would trust whatever the log serves next: never silently.
            anyhow::bail!(
                "{} holds leaves but no accepted head: the state is damaged; restore it or start \
                 a new witness in an empty directory",
                self.dir.display()
            );
        }
        let leaves = self.leaves(0, usize::try_from(size)?)?;
        anyhow::ensure!(
            leaves.len() as u64 == size,
            "fewer leaves kept than the accepted head has"
        );
        for leaf in leaves {
            frontier.push(leaf);
        }
        if let Some((head, _)) = &head {
            anyhow::ensure!(
                frontier.size() == head.size && frontier.root() == head.root,
                "the kept leaves do not make the accepted head of {} leaves",
                head.size
            );
        }
        Ok(Accepted { head, frontier })
    }

    /// The leaves kept, from `start` on (at most `count`; fewer at the end).
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn leaves(&self, start: u64, count: usize) -> anyhow::Result<Vec<Hash>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = match std::fs::File::open(self.dir.join("leaves")) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error).context("cannot read the kept leaves"),
        };
        file.seek(SeekFrom::Start(start.saturating_mul(32)))?;
        let mut bytes = Vec::new();
        file.take(u64::try_from(count)?.saturating_mul(32))
            .read_to_end(&mut bytes)?;
        Ok(bytes
            .chunks_exact(32)
            .filter_map(|c| Hash::try_from(c).ok())
            .collect())
    }

    /// Accepts `note` of `size` leaves, whose new leaves (after the first `from`) are `leaves`.
    ///
    /// # Errors
    /// When the files cannot be written.
    pub fn accept(&self, from: u64, leaves: &[Hash], note: &str) -> anyhow::Result<()> {
        let path = self.dir.join("leaves");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)?;
        // Whatever a crash left after the accepted leaves goes: the new ones follow them.
        file.set_len(from * 32)?;
        let mut file =
            std::io::BufWriter::new(std::fs::OpenOptions::new().append(true).open(&path)?);
        for leaf in leaves {
            file.write_all(leaf)?;
        }
        file.into_inner()?.sync_all()?;
        self.replace("accepted", note.as_bytes())
    }

    /// Raises the alarm: keeps `evidence` in a new file, named in `alarm` (the first alarm's);
    /// the file's name, for [`Store::amend`].
    ///
    /// # Errors
    /// When the files cannot be written.
    pub fn evidence(&self, evidence: &serde_json::Value) -> anyhow::Result<String> {
        let name = format!(
            "evidence-{}.json",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ")
        );
        self.replace(&name, &serde_json::to_vec_pretty(evidence)?)?;
        if !self.dir.join("alarm").exists() {
            self.replace("alarm", format!("{name}\n").as_bytes())?;
        }
        Ok(name)
    }

    /// Replaces the evidence in `name` with `evidence` (completed).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn amend(&self, name: &str, evidence: &serde_json::Value) -> anyhow::Result<PathBuf> {
        self.replace(name, &serde_json::to_vec_pretty(evidence)?)?;
        Ok(self.dir.join(name))
    }

    /// Whether an alarm was raised (in this run or before).
    pub fn alarmed(&self) -> bool {
        self.dir.join("alarm").exists()
    }

    fn replace(&self, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let path = self.dir.join(name);
        let temporary = self.dir.join(format!(".{name}.new"));
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        // The rename itself must survive a crash too.
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}
