//! AWS Certificate Manager: public certificates validated through DNS, and the validation that
//! waits for them to be issued.

use serde::{Deserialize, Serialize};

use super::{Arn, Tags, Text};
use crate::model::validate;
use crate::model::{outputs, NameStyle, Ref, Resource, TypeSchema};

/// Schema of [`Certificate`].
pub const CERTIFICATE: TypeSchema = TypeSchema {
    type_name: "aws.acm.certificate",
    name_style: NameStyle::None,
    force_new: &["domain_name"],
    taggable: true,
    outputs: CertificateOutputs::NAMES,
    // A listener serves the old certificate until it moves to the new one: the new one is
    // requested (and validated) first, and ACM refuses to delete a certificate in use.
    create_before_destroy: true,
    ..TypeSchema::BASE
};

/// A public certificate for one domain name, requested from ACM with DNS validation: ACM issues
/// it once the CNAME record it names (see the outputs) is in the domain's DNS, and renews it
/// while that record stays there (<https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html>).
/// Its key is RSA 2048, ACM's default for requests, which every client takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    /// The fully qualified domain name, e.g. `card-service.prod.example.com`.
    pub domain_name: String,
    /// User tags.
    pub tags: Tags,
}

impl Resource for Certificate {
    const SCHEMA: &'static TypeSchema = &CERTIFICATE;
    fn validate(&self, problems: &mut Vec<String>) {
        let name = self.domain_name.strip_prefix("*.").unwrap_or(&self.domain_name);
        validate::dns_name("domain_name", name, problems);
        if !name.contains('.') {
            problems.push(format!("domain_name: `{}` is not a fully qualified domain name", self.domain_name));
        }
        // "The first domain name you enter cannot exceed 64 octets (characters), including periods"
        // (https://docs.aws.amazon.com/acm/latest/APIReference/API_RequestCertificate.html).
        if self.domain_name.len() > 64 {
            problems.push(format!(
                "domain_name: `{}` is {} characters; ACM takes at most 64 (a shorter service name or domain)",
                self.domain_name,
                self.domain_name.len()
            ));
        }
        if self.domain_name != self.domain_name.to_ascii_lowercase() {
            problems.push(format!("domain_name: `{}` must be lowercase", self.domain_name));
        }
    }
}

outputs! {
    /// What a certificate records.
    Certificate => CertificateOutputs {
        /// Its ARN.
        arn: String => arn(Arn),
        /// The name of the CNAME record that validates it (lowercase, without the final dot).
        validation_record_name: String => validation_record_name(Text),
        /// The value of that record (lowercase, without the final dot).
        validation_record_value: String => validation_record_value(Text),
    }
}

/// Schema of [`CertificateValidation`].
pub const CERTIFICATE_VALIDATION: TypeSchema = TypeSchema {
    type_name: "aws.acm.certificate_validation",
    name_style: NameStyle::None,
    force_new: &["certificate"],
    outputs: CertificateValidationOutputs::NAMES,
    ..TypeSchema::BASE
};

/// The wait for a certificate to be issued, once its validation records exist: nothing in AWS
/// but the certificate's status. What serves the certificate (an HTTPS listener) references
/// this resource's `certificate_arn`, so it is created only with an issued certificate (a load
/// balancer refuses one that is not). Deleting it deletes nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificateValidation {
    /// The certificate.
    pub certificate: Ref<Arn>,
    /// The validation records' names (their `fqdn`): the validation waits for them to exist.
    pub validation_records: Vec<Ref<Text>>,
}

impl Resource for CertificateValidation {
    const SCHEMA: &'static TypeSchema = &CERTIFICATE_VALIDATION;
    fn validate(&self, problems: &mut Vec<String>) {
        if self.validation_records.is_empty() {
            problems.push("validation_records: name the DNS records that validate the certificate".into());
        }
    }
}

outputs! {
    /// What a certificate validation records.
    CertificateValidation => CertificateValidationOutputs {
        /// The issued certificate's ARN.
        certificate_arn: String => certificate_arn(Arn),
    }
}
