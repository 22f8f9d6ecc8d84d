//! The printable form of a result document: a bilingual (Kazakh/Russian) A4 PDF with the
//! document's data and a QR code carrying its number and the digest of the signed bytes (the
//! «штрих-код» of docs/domain.md 6). The PDF embeds DejaVu Sans, which has every Kazakh letter
//! (ә ғ қ ң ө ұ ү һ і), so it renders the same everywhere.

use domain::catalog::ResultDocument;
use printpdf::{Color, Greyscale, IndirectFontRef, Mm, PdfDocument, PdfLayerReference, Rect};
use qrcode::QrCode;
use serde_json::Value;

/// DejaVu Sans (Bitstream Vera license, `assets/fonts/LICENSE-DejaVu.txt`).
const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

const PAGE_WIDTH: f32 = 210.0;
const PAGE_HEIGHT: f32 = 297.0;
const MARGIN: f32 = 18.0;
/// Characters per line at the body size, for wrapping (DejaVu Sans at 9 pt on 174 mm).
const LINE_CHARS: usize = 92;

/// The PDF cannot be produced.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("the PDF library failed: {0}")]
    Render(String),
    #[error("the QR code cannot hold the payload: {0}")]
    Qr(String),
}

/// The digests a printed document is matched by: of the signed bytes and of the signature.
#[derive(Debug, Clone, Copy)]
pub struct Digests<'a> {
    /// SHA-256 (hex) of the document's canonical bytes.
    pub document: &'a str,
    /// SHA-256 (hex) of the provider's CMS signature.
    pub signature: &'a str,
}

/// What the QR code carries: the document number and the digests, so a printed copy can be
/// matched to the signed original (`GET /requests/{number}/result`).
pub fn qr_payload(document_number: &str, digests: Digests<'_>) -> String {
    format!(
        "egov-events:result:{document_number}:sha256:{}:signature-sha256:{}",
        digests.document, digests.signature
    )
}

/// Renders `document` (the composed result) as a PDF.
///
/// # Errors
/// [`PdfError`] when the PDF library or the QR encoder fails.
pub fn render(document: &Value, digests: Digests<'_>) -> Result<Vec<u8>, PdfError> {
    let render = |e: printpdf::Error| PdfError::Render(e.to_string());
    let number = document["document_number"].as_str().unwrap_or_default();
    let (pdf, page, layer) = PdfDocument::new(
        format!(
            "{} {number}",
            document["title_ru"].as_str().unwrap_or("Документ")
        ),
        Mm(PAGE_WIDTH),
        Mm(PAGE_HEIGHT),
        "document",
    );
    let font = pdf
        .add_external_font_with_subsetting(FONT, true)
        .map_err(render)?;
    let layer = pdf.get_page(page).get_layer(layer);
    let mut page = Page {
        layer,
        font,
        y: PAGE_HEIGHT - MARGIN,
    };
    page.line(
        "Құжат Электрондық қызмет порталымен қалыптасқан / Документ сформирован Порталом электронных услуг",
        8.0,
    );
    page.line(&format!("Бірегей нөмір / Уникальный номер: {number}"), 9.0);
    page.gap(3.0);
    page.paragraph(text(&document["issuer"]).as_str(), 9.0);
    page.gap(3.0);
    // Composed by this service: a kind it does not know is an internal fault, not a guess.
    let kind: ResultDocument = serde_json::from_value(document["kind"].clone())
        .map_err(|e| PdfError::Render(format!("the document's kind: {e}")))?;
    page.paragraph(
        document["title_kk"].as_str().unwrap_or(kind.title_kk()),
        12.0,
    );
    page.paragraph(document["title_ru"].as_str().unwrap_or_default(), 12.0);
    page.gap(3.0);
    let recipient = &document["recipient"];
    // A refusal may come before any registry named the person: it names them by IIN alone.
    if recipient.get("full_name").is_some() {
        page.paragraph(
            &format!(
                "Азамат(ша) / Гражданину(ке): {}, туған күні / дата рождения: {}",
                text(&recipient["full_name"]),
                date(&recipient["birth_date"])
            ),
            9.0,
        );
    }
    page.line(&format!("ЖСН / ИИН: {}", text(&recipient["iin"])), 9.0);
    page.line(
        &format!(
            "Сұрау / Запрос № {} · берілген күні / дата выдачи: {}",
            text(&document["request_number"]),
            date(&document["issued_at"])
        ),
        9.0,
    );
    page.gap(3.0);
    body(&mut page, kind, &document["body"]);
    // The e-document equals a paper one: Kazakh beside Russian (docs/domain.md 6.3, D17).
    page.gap(2.0);
    for (language, fallback) in [
        ("kk", domain::result::LEGAL_CLAUSE_KK),
        ("ru", domain::result::LEGAL_CLAUSE_RU),
    ] {
        let clause = document["legal_clause"][language]
            .as_str()
            .unwrap_or(fallback);
        page.paragraph(clause, 7.0);
    }
    footer(&mut page, number, digests)?;
    drop(page);
    pdf.save_to_bytes().map_err(render)
}

/// The footer: the QR code that matches the print to the signed original, and the barcode clause.
fn footer(page: &mut Page, number: &str, digests: Digests<'_>) -> Result<(), PdfError> {
    let code = QrCode::new(qr_payload(number, digests)).map_err(|e| PdfError::Qr(e.to_string()))?;
    let size = 34.0;
    page.qr(&code, MARGIN, MARGIN, size);
    let mut footer = Page {
        layer: page.layer.clone(),
        font: page.font.clone(),
        y: MARGIN + size - 3.0,
    };
    let x = MARGIN + size + 4.0;
    footer.line_at(
        x,
        "*штрих-код ЗТМО ААЖ алынған және электрондық-цифрлық қолтаңбамен",
        7.0,
    );
    footer.line_at(
        x,
        "қол қойылған деректерді қамтиды / штрих-код содержит данные, полученные",
        7.0,
    );
    footer.line_at(
        x,
        "из АИС ГЦВП и подписанные электронной цифровой подписью.",
        7.0,
    );
    footer.line_at(x, &format!("SHA-256: {}", digests.document), 6.0);
    Ok(())
}

/// The body lines of each kind of document.
fn body(page: &mut Page, kind: ResultDocument, body: &Value) {
    match kind {
        ResultDocument::BenefitInformation => benefit_information(page, body),
        ResultDocument::SikCertificate => sik_certificate(page, body),
        ResultDocument::FundStatement => fund_statement(page, body),
        ResultDocument::SocialStatusLine => status_line(page, body),
        ResultDocument::Refusal => refusal(page, body),
    }
}

/// The error's code and description in both languages, and the rule that refused (REG 284-286,
/// 3591: «отказ с описанием ошибки»).
fn refusal(page: &mut Page, body: &Value) {
    page.line(
        &format!("Қате коды / Код ошибки: {}", text(&body["reason"])),
        10.0,
    );
    page.paragraph(
        &format!("Қатенің сипаттамасы: {}", text(&body["text"]["kk"])),
        9.0,
    );
    page.paragraph(
        &format!("Описание ошибки: {}", text(&body["text"]["ru"])),
        9.0,
    );
    if let Some(wording) = body["rule"]["wording"].as_str() {
        page.gap(2.0);
        page.paragraph(
            &format!(
                "Негіздеме / Основание: «{wording}» ({})",
                text(&body["rule"]["lines"])
            ),
            8.0,
        );
    }
}

/// The decisions of a benefit-information document (docs/domain.md 6.1): each decision's lines as
/// its service's document prints them, Kazakh above Russian. A document composed before the lines
/// were kept prints its decision's facts.
fn benefit_information(page: &mut Page, body: &Value) {
    for decision in body["decisions"].as_array().into_iter().flatten() {
        match decision["lines"].as_array() {
            Some(lines) => {
                for line in lines {
                    page.paragraph(&text(&line["kk"]), 8.0);
                    page.paragraph(&text(&line["ru"]), 9.0);
                }
            }
            None => legacy_decision(page, decision),
        }
        page.gap(2.0);
    }
}

/// A decision of a document composed before the lines were kept: its facts, as printed then.
fn legacy_decision(page: &mut Page, decision: &Value) {
    page.paragraph(
        &format!(
            "Шешім / Решением № {} от {} ({})",
            text(&decision["decision_number"]),
            date(&decision["decision_date"]),
            text(&decision["issuer"])
        ),
        9.0,
    );
    match decision["refusal_reason"].as_str() {
        Some(reason) => page.paragraph(
            &format!("Тағайындаудан бас тартылды / Отказано в назначении: {reason}"),
            9.0,
        ),
        None => {
            page.line(
                &format!(
                    "Тағайындалды / Назначено в размере {} тенге",
                    text(&decision["amount_kzt"])
                ),
                9.0,
            );
            page.line(
                &format!(
                    "Тағайындалған күні / Дата назначения: {}",
                    date(&decision["assigned_from"])
                ),
                9.0,
            );
            if let Some(until) = decision["paid_until"].as_str() {
                let until = domain::result::dmy(until);
                page.line(
                    &format!("Төлемнің аяқталу күні / Дата окончания выплаты: {until}"),
                    9.0,
                );
            }
        }
    }
}

/// The lines of a SIK certificate (docs/domain.md 6.2).
fn sik_certificate(page: &mut Page, body: &Value) {
    page.line(&format!("ӘЖК / СИК: {}", text(&body["sik"])), 12.0);
    for (kk_ru, key) in [
        ("Тегі / Фамилия", "last_name"),
        ("Аты / Имя", "first_name"),
        ("Әкесінің аты / Отчество", "patronymic"),
        ("Туған күні / Дата рождения", "birth_date"),
        (
            "Куәлікті берген филиал/бөлімше / Филиал/Отделение, выдавший(ее) свидетельство",
            "branch",
        ),
        ("Тіркелген күні / Дата регистрации", "registered_on"),
        ("Берілген күні / Дата выдачи", "issued_on"),
    ] {
        page.paragraph(&format!("{kk_ru}: {}", date(&body[key])), 9.0);
    }
}

/// The rows and total of a pension-fund statement (docs/domain.md 6.3).
fn fund_statement(page: &mut Page, body: &Value) {
    page.line(&format!("ТАӘ / ФИО: {}", text(&body["full_name"])), 9.0);
    page.line(&format!("ӘЖК / СИК: {}", text(&body["sik"])), 9.0);
    page.gap(2.0);
    page.line(
        "Салымшының транзиттік шоттары бойынша айналымдар / Обороты по транзитным счетам вкладчика",
        9.0,
    );
    page.line(
            "Түскен күні / Дата поступления · Жіберілген / Дата отправки · № · КНП · Жіберуші / Отправитель · Сома / Сумма",
            7.0,
        );
    for row in body["rows"].as_array().into_iter().flatten() {
        page.paragraph(
            &format!(
                "{} · {} · № {} от {} · {} · {} → {} · {} тенге",
                date(&row["received_on"]),
                date(&row["sent_on"]),
                text(&row["document_number"]),
                date(&row["document_date"]),
                text(&row["knp"]),
                text(&row["sender"]),
                text(&row["recipient"]),
                text(&row["amount_kzt"])
            ),
            8.0,
        );
    }
    page.gap(2.0);
    page.line(
        &format!("Барлығы / Итого: {} тенге", text(&body["total_kzt"])),
        9.0,
    );
}

/// The social-status line (docs/domain.md 8).
fn status_line(page: &mut Page, body: &Value) {
    page.paragraph(text(&body["line"]).as_str(), 11.0);
    if let Some(explanation) = body["explanation"].as_str() {
        page.paragraph(explanation, 9.0);
    }
}

/// A JSON value as printed, an ISO date as the regulations print dates (`дд.мм.гггг`).
fn date(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| text(value), domain::result::dmy)
}

/// A JSON value as printed: strings as they are, numbers as written, nothing for null.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

/// Writes lines top-down on one page.
struct Page {
    layer: PdfLayerReference,
    font: IndirectFontRef,
    /// The baseline of the next line, in mm from the bottom.
    y: f32,
}

impl Page {
    fn line(&mut self, text: &str, size: f32) {
        self.line_at(MARGIN, text, size);
    }

    fn line_at(&mut self, x: f32, text: &str, size: f32) {
        self.layer
            .use_text(text, size, Mm(x), Mm(self.y), &self.font);
        self.y -= size * 0.45;
    }

    /// A paragraph wrapped at word boundaries.
    fn paragraph(&mut self, text: &str, size: f32) {
        let width = (LINE_CHARS as f32 * 9.0 / size) as usize;
        for line in wrap(text, width) {
            self.line(&line, size);
        }
    }

    fn gap(&mut self, mm: f32) {
        self.y -= mm;
    }

    /// Draws `code` with its lower left corner at (x, y), `size` mm wide.
    fn qr(&self, code: &QrCode, x: f32, y: f32, size: f32) {
        let width = code.width();
        let module = size / width as f32;
        self.layer
            .set_fill_color(Color::Greyscale(Greyscale::new(0.0, None)));
        for (index, color) in code.to_colors().iter().enumerate() {
            if *color == qrcode::Color::Dark {
                let column = (index % width) as f32;
                let row = (index / width) as f32;
                let left = x + column * module;
                let top = y + size - row * module;
                self.layer.add_rect(Rect::new(
                    Mm(left),
                    Mm(top - module),
                    Mm(left + module),
                    Mm(top),
                ));
            }
        }
    }
}

/// Splits `text` into lines of at most `width` characters at spaces (a longer word stands alone).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let extra = usize::from(!current.is_empty());
        if !current.is_empty() && current.chars().count() + extra + word.chars().count() > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every Kazakh letter besides the Russian alphabet, upper and lower case.
    const KAZAKH: &str = "ӘәҒғҚқҢңӨөҰұҮүҺһІі";

    /// The text of a PDF as poppler's `pdftotext` reads it (installed by scripts/setup.sh).
    fn text_of(pdf: &[u8]) -> String {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("result.pdf");
        std::fs::write(&path, pdf).expect("write");
        let out = std::process::Command::new("pdftotext")
            .arg("-enc")
            .arg("UTF-8")
            .arg(&path)
            .arg("-")
            .output()
            .expect("pdftotext (poppler-utils) runs");
        assert!(out.status.success(), "pdftotext failed: {out:?}");
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// REG 3591: the centre hands over «отказ с описанием ошибки» - a refusal prints its code,
    /// its description in Kazakh and Russian, and the rule that refused.
    #[test]
    fn a_refusal_document_prints_its_code_description_and_rule_in_both_languages() {
        let document = json!({
            "document_number": "O20261123000042",
            "kind": "refusal",
            "title_ru": domain::catalog::ResultDocument::Refusal.title_ru(),
            "request_number": "20261123000042",
            "issuer": domain::result::GCVP_ISSUER,
            "recipient": {"iin": "760324400005"},
            "body": {"reason": "sik-not-registered",
                     "text": {"ru": "СИК не зарегистрирован", "kk": "ӘЖК тіркелмеген", "en": "No SIK"},
                     "rule": {"wording": "4 - если СИК не зарегистрирован", "lines": "REG 298, 3562"}},
            "issued_at": "2026-11-23T10:00:00.000000Z",
        });
        let (document_digest, signature_digest) = ("ab".repeat(32), "cd".repeat(32));
        let digests = Digests {
            document: &document_digest,
            signature: &signature_digest,
        };
        let text = text_of(&render(&document, digests).expect("rendered"));
        for expected in [
            "O20261123000042",
            "Электрондық мемлекеттік қызмет көрсетуден бас тарту",
            "Отказ в оказании электронной государственной услуги",
            "sik-not-registered",
            "СИК не зарегистрирован",
            "ӘЖК тіркелмеген",
            "REG 298, 3562",
            "760324400005",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} is missing from:\n{text}"
            );
        }
        assert!(!text.contains("Гражданину"), "no name to print: {text}");
    }

    #[test]
    fn the_pdf_carries_every_kazakh_letter_and_the_documents_data_as_text() {
        let document = json!({
            "document_number": "R20261123000042",
            "kind": "sik-certificate",
            "title_ru": "Свидетельство о присвоении социального индивидуального кода",
            "request_number": "20261123000042",
            "issuer": "Зейнетақы төлеу жөніндегі мемлекеттік орталық",
            "recipient": {"iin": "760324400005", "full_name": format!("ТЕСТ {KAZAKH}"), "birth_date": "1976-03-24"},
            "body": {"sik": "DV6MH41VHFEX4009", "last_name": "БАПАХОВА", "first_name": "АИДА",
                     "patronymic": "ГАЛИХАНОВНА", "birth_date": "1976-03-24",
                     "branch": "Шаһар бөлімшесі", "registered_on": "2000-02-01", "issued_on": "2000-02-01"},
            "issued_at": "2026-11-23T10:00:00.000000Z",
        });
        let (document_digest, signature_digest) = ("ab".repeat(32), "cd".repeat(32));
        let digests = Digests {
            document: &document_digest,
            signature: &signature_digest,
        };
        let pdf = render(&document, digests).expect("rendered");
        assert!(pdf.starts_with(b"%PDF-"));
        eprintln!("PDF of {} bytes", pdf.len());
        let text = text_of(&pdf);
        for letter in KAZAKH.chars() {
            assert!(text.contains(letter), "{letter} is missing from:\n{text}");
        }
        for expected in [
            "R20261123000042",
            "DV6MH41VHFEX4009",
            "БАПАХОВА",
            "Әлеуметтік жеке код беру туралы куәлік",
            "Свидетельство о присвоении социального индивидуального кода",
            "Шаһар",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} is missing from:\n{text}"
            );
        }
    }

    #[test]
    fn the_rendered_qr_code_reads_back_as_the_number_and_the_digests() {
        let document = json!({
            "document_number": "R20261123000042", "kind": "fund-statement",
            "title_ru": "Справка", "request_number": "20261123000042", "issuer": "ГЦВП",
            "recipient": {"iin": "760324400005", "full_name": "ТЕСТ", "birth_date": "1976-03-24"},
            "body": {"full_name": "ТЕСТ", "sik": "DV6MH41VHFEX4009", "rows": [], "total_kzt": "0.00"},
            "issued_at": "2026-11-23T10:00:00.000000Z",
        });
        let (a, b) = ("ab".repeat(32), "cd".repeat(32));
        let digests = Digests {
            document: &a,
            signature: &b,
        };
        let pdf = render(&document, digests).expect("rendered");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("r.pdf");
        std::fs::write(&path, pdf).expect("write");
        let status = std::process::Command::new("pdftoppm")
            .args(["-png", "-r", "200", "-singlefile"])
            .arg(&path)
            .arg(dir.path().join("page"))
            .status()
            .expect("pdftoppm (poppler-utils) runs");
        assert!(status.success());
        let page = image::open(dir.path().join("page.png"))
            .expect("png")
            .to_luma8();
        let mut prepared = rqrr::PreparedImage::prepare(page);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code on the page");
        let (_, content) = grids[0].decode().expect("decodes");
        assert_eq!(content, qr_payload("R20261123000042", digests));
    }

    #[test]
    fn the_qr_code_carries_the_number_and_the_digest() {
        let payload = qr_payload(
            "R1",
            Digests {
                document: "00ff",
                signature: "11ee",
            },
        );
        assert_eq!(
            payload,
            "egov-events:result:R1:sha256:00ff:signature-sha256:11ee"
        );
        let (a, b) = ("ab".repeat(32), "cd".repeat(32));
        let long = qr_payload(
            "R20261123000042",
            Digests {
                document: &a,
                signature: &b,
            },
        );
        assert!(QrCode::new(long).is_ok());
    }

    #[test]
    fn wrapping_keeps_words_whole_and_lines_short() {
        let lines = wrap("Департамент по контролю и социальной защите населения", 20);
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        assert_eq!(
            lines.join(" "),
            "Департамент по контролю и социальной защите населения"
        );
    }
}
