//! Revocation in the test PKI: CRLs made by `openssl ca -gencrl`, and `openssl ocsp` as the
//! responder of the issuing CA (with the root's responder for the CA's own status), or a forged
//! one an attacker would run.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{Issued, Pki};

impl Pki {
    /// An `openssl ocsp` that answers "good" for every certificate issued so far, signed by
    /// `impostor` in the name of the issuing CA, on a port of its own.
    pub fn forged_responder(&self, impostor: &Issued) -> Responder {
        let lines: String = self
            .index
            .iter()
            .map(|l| {
                let fields: Vec<&str> = l.split('\t').collect();
                format!(
                    "V\t{}\t\t{}\tunknown\t{}\n",
                    fields[1], fields[3], fields[5]
                )
            })
            .collect();
        let cert = self.write("impostor.pem", &impostor.cert.to_pem().expect("pem"));
        let key = self.write(
            "impostor.key",
            &impostor.key.private_key_to_pem_pkcs8().expect("pem"),
        );
        let index = self.write("forged-index.txt", lines.as_bytes());
        spawn_responder(&index, &cert, &cert, &key, crate::port::free(), 1)
    }

    /// A CRL of the issuing CA over the certificates issued so far (revoked ones listed), made by
    /// `openssl ca -gencrl`, valid for `hours`, as a PEM file.
    pub fn crl_file(&self, hours: u32) -> PathBuf {
        let lines: String = self.index.iter().map(|l| format!("{l}\n")).collect();
        self.gencrl("ca", &self.ca, &lines, hours)
    }

    /// The root's CRL (listing the issuing CA when [`Pki::revoke_issuing_ca`] was called), valid
    /// for `hours`, as a PEM file.
    pub fn root_crl_file(&self, hours: u32) -> PathBuf {
        self.gencrl("root", &self.root, &self.root_index(), hours)
    }

    /// The root's index: the issuing CA (serial 02), good or revoked.
    fn root_index(&self) -> String {
        let state = if self.ca_revoked {
            "R\t301231235959Z\t240101000000Z"
        } else {
            "V\t301231235959Z\t"
        };
        format!("{state}\t02\tunknown\t/CN=CA\n")
    }

    fn gencrl(&self, name: &str, issuer: &Issued, index_lines: &str, hours: u32) -> PathBuf {
        let index = self.write(&format!("{name}-crl-index.txt"), index_lines.as_bytes());
        let key = self.write(
            &format!("{name}-crl.key"),
            &issuer.key.private_key_to_pem_pkcs8().expect("pem"),
        );
        let cert = self.write(
            &format!("{name}-crl.pem"),
            &issuer.cert.to_pem().expect("pem"),
        );
        let config = self.write(
            &format!("{name}-crl.cnf"),
            format!(
                "[ca]\ndefault_ca = test\n[test]\ndatabase = {}\ndefault_md = sha256\n",
                index.display()
            )
            .as_bytes(),
        );
        let out = self.dir.path().join(format!("{name}.crl"));
        let status = Command::new("openssl")
            .args(["ca", "-gencrl", "-batch", "-config"])
            .arg(&config)
            .arg("-keyfile")
            .arg(&key)
            .arg("-cert")
            .arg(&cert)
            .args(["-crlhours", &hours.to_string(), "-out"])
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl ca");
        assert!(status.success(), "openssl ca -gencrl failed");
        out
    }

    /// Starts `openssl ocsp` over the index on a free port.
    pub fn responder(&self) -> Responder {
        self.responder_with(1)
    }

    /// Starts `openssl ocsp` with `processes` child processes answering (`-multi`), for load,
    /// and the root's responder for the issuing CA's own status.
    pub fn responder_with(&self, processes: u32) -> Responder {
        let lines: String = self.index.iter().map(|l| format!("{l}\n")).collect();
        let index = self.write("index.txt", lines.as_bytes());
        let ca = self.write("ca.pem", &self.ca.cert.to_pem().expect("pem"));
        let rsigner = self.write("ocsp.pem", &self.ocsp.cert.to_pem().expect("pem"));
        let rkey = self.write(
            "ocsp.key",
            &self.ocsp.key.private_key_to_pem_pkcs8().expect("pem"),
        );
        let mut responder = spawn_responder(&index, &ca, &rsigner, &rkey, self.port, processes);
        let root_index = self.write("root-index.txt", self.root_index().as_bytes());
        let root = self.write("root.pem", &self.root.cert.to_pem().expect("pem"));
        let root_key = self.write(
            "root.key",
            &self.root.key.private_key_to_pem_pkcs8().expect("pem"),
        );
        responder.root = Some(Box::new(spawn_responder(
            &root_index,
            &root,
            &root,
            &root_key,
            self.root_port,
            1,
        )));
        responder
    }
}

/// Starts `openssl ocsp` over `index` for the certificates `ca` issued, answers signed by
/// `rsigner`, on `port`.
fn spawn_responder(
    index: &Path,
    ca: &Path,
    rsigner: &Path,
    rkey: &Path,
    port: u16,
    processes: u32,
) -> Responder {
    let mut child = Command::new("openssl")
        .args(["ocsp", "-index"])
        .arg(index)
        .args(["-port", &port.to_string(), "-rsigner"])
        .arg(rsigner)
        .arg("-rkey")
        .arg(rkey)
        .arg("-CA")
        .arg(ca)
        .args(["-nmin", "5", "-ignore_err"])
        .args(if processes > 1 {
            vec!["-multi".to_owned(), processes.to_string()]
        } else {
            Vec::new()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // Its own process group: `-multi` forks children, and dropping the responder stops
        // them all.
        .process_group(0)
        .spawn()
        .expect("start openssl ocsp");
    // Ready when it says it accepts (a probing connection would wedge it: it serves one
    // connection at a time and waits for that one's request).
    let stdout = child.stdout.take().expect("stdout");
    let (ready_tx, ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            if line.is_ok_and(|l| l.starts_with("ACCEPT")) {
                let _ = ready_tx.send(());
                break;
            }
        }
        for _ in lines {} // keep the pipe drained
    });
    ready
        .recv_timeout(Duration::from_secs(20))
        .expect("openssl ocsp did not start");
    Responder {
        child,
        url: format!("http://127.0.0.1:{port}"),
        root: None,
    }
}

/// A running `openssl ocsp` (and the root's, when started by [`Pki::responder`]), killed when
/// dropped.
pub struct Responder {
    child: Child,
    pub url: String,
    /// Held to be stopped with this one.
    root: Option<Box<Responder>>,
}

impl Drop for Responder {
    fn drop(&mut self) {
        // The whole group: the responder and the children `-multi` forked.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop(self.root.take());
    }
}
