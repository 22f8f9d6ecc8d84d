//! The `EGOV_KAFKA_*` variables: where the brokers are, how the topic is laid out, and how the
//! clients reach the brokers (TLS and SASL, passed to librdkafka as they are).

use std::time::Duration;

use projections::kafka::{KafkaSecurity, SecurityProtocol};

use super::{parse_duration, Mode, SettingsError};

/// `name` when it is a legal topic name (Kafka's own rule).
fn topic_name(variable: &'static str, name: &str) -> Result<String, SettingsError> {
    let legal = name.len() <= 249
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && name != "."
        && name != "..";
    if !legal {
        return Err(SettingsError {
            variable,
            value: name.to_owned(),
            expected: "a topic name of letters, digits, '.', '_' and '-' (at most 249)",
        });
    }
    Ok(name.to_owned())
}

/// The `EGOV_KAFKA_*` variables; `None` without `EGOV_KAFKA_BROKERS`.
pub(super) fn kafka_settings(
    get: &impl Fn(&str) -> Option<String>,
    mode: Mode,
) -> Result<Option<projections::kafka::KafkaSettings>, SettingsError> {
    let Some(brokers) = get("EGOV_KAFKA_BROKERS") else {
        return Ok(None);
    };
    let mut kafka = projections::kafka::KafkaSettings::new(brokers.trim());
    for (variable, topic) in [
        ("EGOV_KAFKA_TOPIC", &mut kafka.topic),
        ("EGOV_KAFKA_TREE_HEADS_TOPIC", &mut kafka.heads_topic),
    ] {
        if let Some(name) = get(variable) {
            *topic = topic_name(variable, name.trim())?;
        }
    }
    let count = |variable: &'static str, default: i32| -> Result<i32, SettingsError> {
        match get(variable) {
            Some(raw) => raw
                .trim()
                .parse::<i32>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or(SettingsError {
                    variable,
                    value: raw,
                    expected: "a whole number from 1 to 1000",
                }),
            None => Ok(default),
        }
    };
    kafka.partitions = count("EGOV_KAFKA_PARTITIONS", kafka.partitions)?;
    kafka.replication = count("EGOV_KAFKA_REPLICATION", kafka.replication)?;
    if let Some(group) = get("EGOV_KAFKA_GROUP") {
        group.trim().clone_into(&mut kafka.group_prefix);
    }
    if let Some(raw) = get("EGOV_KAFKA_SESSION_TIMEOUT") {
        kafka.session_timeout = parse_duration(&raw)
            .filter(|d| *d >= Duration::from_secs(1))
            .ok_or(SettingsError {
                variable: "EGOV_KAFKA_SESSION_TIMEOUT",
                value: raw,
                expected: "a duration of at least 1s, such as 10s",
            })?;
    }
    kafka.security = kafka_security(get, mode)?;
    Ok(Some(kafka))
}

/// `EGOV_KAFKA_SECURITY_PROTOCOL` and the TLS and SASL variables. Production must name the
/// protocol (personal data crosses this link): `plaintext` is taken only when said.
fn kafka_security(
    get: &impl Fn(&str) -> Option<String>,
    mode: Mode,
) -> Result<KafkaSecurity, SettingsError> {
    const PROTOCOL: &str = "EGOV_KAFKA_SECURITY_PROTOCOL";
    let protocol = match get(PROTOCOL) {
        Some(raw) => match raw.trim().to_ascii_lowercase().as_str() {
            "plaintext" => SecurityProtocol::Plaintext,
            "ssl" => SecurityProtocol::Ssl,
            "sasl_plaintext" => SecurityProtocol::SaslPlaintext,
            "sasl_ssl" => SecurityProtocol::SaslSsl,
            _ => {
                return Err(SettingsError {
                    variable: PROTOCOL,
                    value: raw,
                    expected: "ssl, sasl_ssl, sasl_plaintext or plaintext",
                })
            }
        },
        None if mode == Mode::Production => {
            return Err(SettingsError {
                variable: PROTOCOL,
                value: String::new(),
                expected: "set with EGOV_KAFKA_BROKERS in production: ssl, sasl_ssl, \
                           sasl_plaintext, or plaintext to send personal data in the clear",
            })
        }
        None => SecurityProtocol::Plaintext,
    };
    let path = |name| get(name).map(|v| v.trim().to_owned());
    let security = KafkaSecurity {
        protocol,
        ssl_ca_location: path("EGOV_KAFKA_SSL_CA_LOCATION"),
        ssl_certificate_location: path("EGOV_KAFKA_SSL_CERTIFICATE_LOCATION"),
        ssl_key_location: path("EGOV_KAFKA_SSL_KEY_LOCATION"),
        ssl_key_password: get("EGOV_KAFKA_SSL_KEY_PASSWORD"),
        sasl_mechanism: sasl_mechanism(get)?,
        sasl_username: get("EGOV_KAFKA_SASL_USERNAME"),
        sasl_password: get("EGOV_KAFKA_SASL_PASSWORD"),
    };
    if security.protocol.sasl()
        && (security.sasl_mechanism.is_none()
            || security.sasl_username.is_none()
            || security.sasl_password.is_none())
    {
        return Err(SettingsError {
            variable: "EGOV_KAFKA_SASL_MECHANISM",
            value: security.sasl_mechanism.clone().unwrap_or_default(),
            expected: "with a sasl_* protocol: the mechanism, EGOV_KAFKA_SASL_USERNAME and \
                       EGOV_KAFKA_SASL_PASSWORD, all three",
        });
    }
    Ok(security)
}

fn sasl_mechanism(get: &impl Fn(&str) -> Option<String>) -> Result<Option<String>, SettingsError> {
    let Some(raw) = get("EGOV_KAFKA_SASL_MECHANISM") else {
        return Ok(None);
    };
    let mechanism = raw.trim().to_ascii_uppercase();
    if ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"].contains(&mechanism.as_str()) {
        Ok(Some(mechanism))
    } else {
        Err(SettingsError {
            variable: "EGOV_KAFKA_SASL_MECHANISM",
            value: raw,
            expected: "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::tests::settings;
    use projections::kafka::SecurityProtocol;

    const PRODUCTION: [(&str, &str); 2] = [
        ("DATABASE_URL", "postgres://egov@db/egov"),
        ("EGOV_KAFKA_BROKERS", "kafka:9093"),
    ];

    #[test]
    fn production_names_how_it_reaches_the_brokers_and_sasl_comes_whole() {
        let error = settings(&PRODUCTION).expect_err("no protocol in production");
        assert_eq!(error.variable, "EGOV_KAFKA_SECURITY_PROTOCOL");
        let plain = settings(&[
            PRODUCTION[0],
            PRODUCTION[1],
            ("EGOV_KAFKA_SECURITY_PROTOCOL", "plaintext"),
        ])
        .expect("plaintext when said");
        assert_eq!(
            plain.kafka.expect("kafka").security.protocol,
            SecurityProtocol::Plaintext
        );
        let half = [
            PRODUCTION[0],
            PRODUCTION[1],
            ("EGOV_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("EGOV_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
            ("EGOV_KAFKA_SASL_USERNAME", "egov"),
        ];
        assert_eq!(
            settings(&half).expect_err("no password").variable,
            "EGOV_KAFKA_SASL_MECHANISM"
        );
        let whole = [&half[..], &[("EGOV_KAFKA_SASL_PASSWORD", "hunter2")]].concat();
        let kafka = settings(&whole).expect("whole").kafka.expect("kafka");
        assert_eq!(kafka.security.protocol, SecurityProtocol::SaslSsl);
        assert!(!format!("{kafka:?}").contains("hunter2"));
        let odd = [
            PRODUCTION[0],
            PRODUCTION[1],
            ("EGOV_KAFKA_SECURITY_PROTOCOL", "tls"),
        ];
        assert_eq!(
            settings(&odd).expect_err("unknown").variable,
            "EGOV_KAFKA_SECURITY_PROTOCOL"
        );
        // Development takes plaintext unless told otherwise.
        let dev = settings(&[("EGOV_KAFKA_BROKERS", "127.0.0.1:9092")]).expect("development");
        assert_eq!(
            dev.kafka.expect("kafka").security.protocol,
            SecurityProtocol::Plaintext
        );
    }
}
