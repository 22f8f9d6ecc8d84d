//! The result documents of the catalog (docs/domain.md 6): what each carries and its titles.

use serde::{Deserialize, Serialize};

/// The result a service ends with (docs/domain.md 6, 8); its code is the `kind` of a composed
/// document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResultDocument {
    /// «ИНФОРМАЦИЯ о назначении (отказе в назначении) …» (services 1-8, 6.1).
    BenefitInformation,
    /// «Свидетельство о присвоении социального индивидуального кода» (6.2).
    SikCertificate,
    /// «Справка по оборотам по транзитным счетам вкладчика» (6.3).
    FundStatement,
    /// An on-screen line, not a document (8).
    SocialStatusLine,
    /// The provider's signed answer stating why a request was refused (REG 284-286: «формирует
    /// ответ с указанием ошибки, подписывает ЭЦП РГКП ГЦВП»; REG 3591: the centre hands it over).
    /// Not the result of any service: every refused request ends with one.
    Refusal,
}

/// A field of a result document: its key and its label as the sample documents print it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DocumentField {
    pub key: &'static str,
    pub label_ru: &'static str,
}

impl ResultDocument {
    /// The fields the document carries (docs/domain.md 6), besides its unique number and the provider's
    /// signature, which every document has.
    // Kept whole: a table of data, each document's fields as the sample documents print them.
    pub const fn fields(self) -> &'static [DocumentField] {
        match self {
            // 6.1: the decision and what it assigned, or the benefit body's refusal, which is a
            // result and not a refused request (docs/domain.md 5(b)).
            ResultDocument::BenefitInformation => &[
                DocumentField {
                    key: "issuer",
                    label_ru: "наименование ГО",
                },
                DocumentField {
                    key: "decision_number",
                    label_ru: "Решением №",
                },
                DocumentField {
                    key: "decision_date",
                    label_ru: "от",
                },
                DocumentField {
                    key: "amount_kzt",
                    label_ru: "в размере ___ тенге",
                },
                DocumentField {
                    key: "assigned_from",
                    label_ru: "Дата назначения",
                },
                DocumentField {
                    key: "paid_until",
                    label_ru: "Дата окончания выплаты",
                },
                DocumentField {
                    key: "refusal_reason",
                    label_ru: "Отказано в назначении (причина отказа)",
                },
            ],
            // 6.2.
            ResultDocument::SikCertificate => &[
                DocumentField {
                    key: "sik",
                    label_ru: "СИК",
                },
                DocumentField {
                    key: "last_name",
                    label_ru: "Фамилия",
                },
                DocumentField {
                    key: "first_name",
                    label_ru: "Имя",
                },
                DocumentField {
                    key: "patronymic",
                    label_ru: "Отчество",
                },
                DocumentField {
                    key: "birth_date",
                    label_ru: "Дата рождения",
                },
                DocumentField {
                    key: "branch",
                    label_ru: "Филиал/Отделение, выдавший(ее) свидетельство",
                },
                DocumentField {
                    key: "registered_on",
                    label_ru: "Дата регистрации",
                },
                DocumentField {
                    key: "issued_on",
                    label_ru: "Дата выдачи",
                },
            ],
            // 6.3: one row per movement in the period, and the total.
            ResultDocument::FundStatement => &[
                DocumentField {
                    key: "full_name",
                    label_ru: "ФИО",
                },
                DocumentField {
                    key: "sik",
                    label_ru: "СИК",
                },
                DocumentField {
                    key: "rows",
                    label_ru: "Обороты по транзитным счетам вкладчика",
                },
                DocumentField {
                    key: "total_kzt",
                    label_ru: "Итого",
                },
            ],
            // 8: «Статус ИИН [ХХХХХХХХХХХХ] : [Социальный статус]!»
            ResultDocument::SocialStatusLine => &[
                DocumentField {
                    key: "iin",
                    label_ru: "Статус ИИН",
                },
                DocumentField {
                    key: "status",
                    label_ru: "Социальный статус",
                },
            ],
            // REG 284-286: the code and the description of the error.
            ResultDocument::Refusal => &[
                DocumentField {
                    key: "reason",
                    label_ru: "код ошибки",
                },
                DocumentField {
                    key: "text",
                    label_ru: "описание ошибки",
                },
            ],
        }
    }

    /// The document's title as the regulations give it.
    pub const fn title_ru(self) -> &'static str {
        match self {
            ResultDocument::BenefitInformation => "ИНФОРМАЦИЯ о назначении (отказе в назначении)",
            ResultDocument::SikCertificate => {
                "Свидетельство о присвоении социального индивидуального кода"
            }
            ResultDocument::FundStatement => "Справка по оборотам по транзитным счетам вкладчика",
            ResultDocument::SocialStatusLine => "Сведения о социальном статусе",
            ResultDocument::Refusal => "Отказ в оказании электронной государственной услуги",
        }
    }

    /// The document's title in Kazakh, as the printed documents carry it beside the Russian one.
    pub const fn title_kk(self) -> &'static str {
        match self {
            ResultDocument::BenefitInformation => {
                "Тағайындау (тағайындаудан бас тарту) туралы АҚПАРАТ"
            }
            ResultDocument::SikCertificate => "Әлеуметтік жеке код беру туралы куәлік",
            ResultDocument::FundStatement => {
                "Салымшының транзиттік шоттары бойынша айналымдар туралы анықтама"
            }
            ResultDocument::SocialStatusLine => "Әлеуметтік мәртебе туралы мәліметтер",
            ResultDocument::Refusal => "Электрондық мемлекеттік қызмет көрсетуден бас тарту",
        }
    }
}
