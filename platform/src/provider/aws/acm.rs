//! ACM certificates (DNS validation) and the wait for their issue. The physical id of both is the
//! certificate's ARN.

use async_trait::async_trait;
use aws_sdk_acm::types::{CertificateDetail, CertificateStatus, KeyAlgorithm, Tag, ValidationMethod};

use super::client::Aws;
use super::resource::{AwsResource, Created, Current, Lookup, New, Read, Recorded};
use super::support::{api, incomplete, malformed, sync_tags, tags, wait_for};
use crate::model::Ref;
use crate::provider::ProviderError;
use crate::resources::acm::{Certificate, CertificateOutputs, CertificateValidation, CertificateValidationOutputs};
use crate::resources::route53::normalized;
use crate::resources::Tags;

/// `aws.acm.certificate`.
pub(crate) struct Certificates;
/// `aws.acm.certificate_validation`.
pub(crate) struct CertificateValidations;

fn acm_tags(address: &crate::model::Address, tags: &Tags) -> Result<Vec<Tag>, ProviderError> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<_, _>>()
        .map_err(malformed(address))
}

/// The certificate, or `None` when ACM does not know it (deleted, or requested moments ago:
/// "there is a delay of several seconds" before a new certificate can be described,
/// <https://docs.aws.amazon.com/acm/latest/APIReference/API_RequestCertificate.html>).
async fn describe(aws: &Aws, arn: &str) -> Result<Option<CertificateDetail>, ProviderError> {
    match aws.acm.describe_certificate().certificate_arn(arn).send().await.map_err(api("acm:DescribeCertificate")) {
        Ok(out) => Ok(out.certificate().cloned()),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

async fn read_tags(aws: &Aws, arn: &str) -> Result<Tags, ProviderError> {
    let out = aws
        .acm
        .list_tags_for_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .map_err(api("acm:ListTagsForCertificate"))?;
    Ok(tags(out.tags().iter().map(|t| (t.key(), t.value().unwrap_or_default()))))
}

/// The validation record ACM names for the certificate's domain, once it does
/// (`DomainValidationOptions[].ResourceRecord`, CNAME only:
/// <https://docs.aws.amazon.com/acm/latest/APIReference/API_ResourceRecord.html>).
fn validation_record(c: &CertificateDetail) -> Option<(String, String)> {
    let domain = c.domain_name()?;
    let option = c.domain_validation_options().iter().find(|o| o.domain_name() == domain)?;
    let record = option.resource_record()?;
    Some((normalized(record.name()), normalized(record.value())))
}

/// Waits for ACM to name the certificate's validation record: it appears some seconds after the
/// request (AWS's own tools poll for it). A request ACM refuses outright (FAILED, with a reason
/// such as INVALID_PUBLIC_DOMAIN or DOMAIN_NOT_ALLOWED) names none: that ends the wait.
async fn named_record(aws: &Aws, arn: &str) -> Result<(String, String), ProviderError> {
    wait_for(format!("ACM to name the validation record of {arn}"), aws.operation_timeout, || async {
        let Some(c) = describe(aws, arn).await? else { return Ok(None) };
        if let Some(status @ (CertificateStatus::Failed | CertificateStatus::ValidationTimedOut)) = c.status() {
            return Err(ProviderError::OperationFailed {
                what: format!("requesting certificate {arn} for {}", c.domain_name().unwrap_or_default()),
                message: format!(
                    "ACM answered {} ({})",
                    status.as_str(),
                    c.failure_reason().map(|r| r.as_str()).unwrap_or("no reason given")
                ),
            });
        }
        Ok(validation_record(&c))
    })
    .await
}

fn outputs(arn: &str, record: (String, String)) -> CertificateOutputs {
    CertificateOutputs { arn: arn.to_string(), validation_record_name: record.0, validation_record_value: record.1 }
}

#[async_trait]
impl AwsResource for Certificates {
    type Props = Certificate;
    type Outputs = CertificateOutputs;

    async fn create(
        &self,
        aws: &Aws,
        new: &New<'_, Certificate>,
    ) -> Result<Created<CertificateOutputs>, ProviderError> {
        let c = &new.props;
        // The token makes a request sent again (its answer lost) the same request: "if you call
        // RequestCertificate multiple times with the same idempotency token within one hour, ACM
        // recognizes that you are requesting only one certificate and will issue only one"
        // (https://docs.aws.amazon.com/acm/latest/APIReference/API_RequestCertificate.html; `\w+`,
        // at most 32 characters). The validation method is named: left out, it is EMAIL.
        let token: String = new.token.chars().filter(char::is_ascii_alphanumeric).take(32).collect();
        let out = aws
            .acm
            .request_certificate()
            .domain_name(&c.domain_name)
            .validation_method(ValidationMethod::Dns)
            .key_algorithm(KeyAlgorithm::Rsa2048)
            .idempotency_token(token)
            .set_tags(Some(acm_tags(new.address, &c.tags)?))
            .send()
            .await
            .map_err(api("acm:RequestCertificate"))?;
        let arn = out.certificate_arn().unwrap_or_default().to_string();
        let pending = CertificateOutputs {
            arn: arn.clone(),
            validation_record_name: String::new(),
            validation_record_value: String::new(),
        };
        let record = named_record(aws, &arn).await.map_err(incomplete(&arn, &pending))?;
        Ok(Created { physical_id: arn.clone(), outputs: outputs(&arn, record) })
    }

    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, Certificate>,
    ) -> Result<Option<Read<Certificate, CertificateOutputs>>, ProviderError> {
        let Some(c) = describe(aws, recorded.physical_id).await? else { return Ok(None) };
        let arn = c.certificate_arn().unwrap_or(recorded.physical_id).to_string();
        let kept = |name: &str| recorded.output(name).unwrap_or_default().to_string();
        let record = match validation_record(&c) {
            Some(record) => record,
            None if !kept("validation_record_name").is_empty() => {
                (kept("validation_record_name"), kept("validation_record_value"))
            }
            // Found, or read again, moments after its request: the record is named soon.
            None => named_record(aws, &arn).await?,
        };
        let props = Certificate {
            domain_name: c.domain_name().unwrap_or_default().to_string(),
            tags: read_tags(aws, &arn).await?,
        };
        Ok(Some(Read::new(props, outputs(&arn, record))))
    }

    async fn update(
        &self,
        aws: &Aws,
        current: &Current<'_, Certificate, CertificateOutputs>,
        new: &Certificate,
    ) -> Result<(), ProviderError> {
        let arn = current.physical_id;
        sync_tags(
            &current.props.tags,
            &new.tags,
            |keys| async move {
                let keys: Vec<Tag> = keys
                    .iter()
                    .map(|k| Tag::builder().key(k).build())
                    .collect::<Result<_, _>>()
                    .map_err(malformed(current.address))?;
                aws.acm
                    .remove_tags_from_certificate()
                    .certificate_arn(arn)
                    .set_tags(Some(keys))
                    .send()
                    .await
                    .map_err(api("acm:RemoveTagsFromCertificate"))?;
                Ok(())
            },
            |set| async move {
                let tags = acm_tags(current.address, &set.into_iter().collect())?;
                aws.acm
                    .add_tags_to_certificate()
                    .certificate_arn(arn)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(api("acm:AddTagsToCertificate"))?;
                Ok(())
            },
        )
        .await
    }

    /// ACM refuses while a load balancer still uses the certificate (`ResourceInUseException`,
    /// <https://docs.aws.amazon.com/acm/latest/APIReference/API_DeleteCertificate.html>), also for
    /// a while after the listener is gone: the provider retries such refusals.
    /// `ConflictException` means another operation on the certificate is under way: "wait for
    /// the previous operation to finish and try again" (same page).
    async fn delete(
        &self,
        aws: &Aws,
        current: &Current<'_, Certificate, CertificateOutputs>,
    ) -> Result<(), ProviderError> {
        let what = format!("ACM to finish the operation under way on {}", current.physical_id);
        wait_for(what, aws.operation_timeout, || async {
            match aws.acm.delete_certificate().certificate_arn(current.physical_id).send().await {
                Ok(_) => Ok(Some(())),
                Err(e) if e.as_service_error().is_some_and(|e| e.is_conflict_exception()) => Ok(None),
                Err(e) => Err(api("acm:DeleteCertificate")(e)),
            }
        })
        .await
    }

    /// What ACM says uses the certificate (`InUseBy`).
    async fn holders(
        &self,
        aws: &Aws,
        current: &Current<'_, Certificate, CertificateOutputs>,
    ) -> Result<Vec<String>, ProviderError> {
        Ok(describe(aws, current.physical_id).await?.map(|c| c.in_use_by().to_vec()).unwrap_or_default())
    }

    /// A certificate for the domain carrying this address's tag (ACM's list has no tag filter:
    /// the certificates of the domain are few).
    async fn find(&self, aws: &Aws, lookup: &Lookup<'_, Certificate>) -> Result<Option<String>, ProviderError> {
        let Some(domain) = lookup.props.as_ref().map(|p| p.domain_name.as_str()) else { return Ok(None) };
        let mut pages = aws.acm.list_certificates().into_paginator().send();
        let address = lookup.address.to_string();
        while let Some(page) = pages.next().await {
            let page = page.map_err(api("acm:ListCertificates"))?;
            for summary in page.certificate_summary_list() {
                let Some(arn) = summary.certificate_arn() else { continue };
                if summary.domain_name() != Some(domain) {
                    continue;
                }
                let tags = read_tags(aws, arn).await?;
                if tags.get("platform:address") == Some(&address) {
                    return Ok(Some(arn.to_string()));
                }
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl AwsResource for CertificateValidations {
    type Props = CertificateValidation;
    type Outputs = CertificateValidationOutputs;

    /// The records are what the validation waited for; ACM does not tell which they were.
    const NOT_REPORTED: &'static [&'static str] = &["validation_records"];

    /// Waits for ACM to issue the certificate. "ACM makes repeated attempts to validate a
    /// certificate for 72 hours and then times out"; FAILED and VALIDATION_TIMED_OUT are final
    /// (<https://docs.aws.amazon.com/acm/latest/APIReference/API_CertificateDetail.html>). AWS
    /// does not say how long a DNS validation takes once the record exists (usually minutes);
    /// the wait lasts the operation deadline, and a later apply waits again.
    async fn create(
        &self,
        aws: &Aws,
        new: &New<'_, CertificateValidation>,
    ) -> Result<Created<CertificateValidationOutputs>, ProviderError> {
        let arn = new.props.certificate.as_str().to_string();
        let what =
            format!("ACM to issue certificate {arn} (is its validation record in the DNS its domain is delegated to?)");
        wait_for(what, aws.operation_timeout, || async {
            let Some(c) = describe(aws, &arn).await? else { return Ok(None) };
            match c.status() {
                Some(CertificateStatus::Issued) => Ok(Some(())),
                Some(CertificateStatus::PendingValidation) | None => Ok(None),
                Some(status) => Err(ProviderError::OperationFailed {
                    what: format!("validating certificate {arn}"),
                    message: format!(
                        "the certificate is {} ({}): delete it and apply again to request a new one",
                        status.as_str(),
                        c.failure_reason().map(|r| r.as_str()).unwrap_or("no reason given")
                    ),
                }),
            }
        })
        .await?;
        Ok(Created { physical_id: arn.clone(), outputs: CertificateValidationOutputs { certificate_arn: arn } })
    }

    /// Validated while the certificate is issued; gone otherwise (the next apply waits again).
    async fn read(
        &self,
        aws: &Aws,
        recorded: &Recorded<'_, CertificateValidation>,
    ) -> Result<Option<Read<CertificateValidation, CertificateValidationOutputs>>, ProviderError> {
        let Some(c) = describe(aws, recorded.physical_id).await? else { return Ok(None) };
        if c.status() != Some(&CertificateStatus::Issued) {
            return Ok(None);
        }
        let props = CertificateValidation {
            certificate: Ref::existing(recorded.physical_id),
            validation_records: recorded.kept(|p| p.validation_records.clone()),
        };
        Ok(Some(Read::new(props, CertificateValidationOutputs { certificate_arn: recorded.physical_id.to_string() })))
    }

    /// Only the records it waited for change: nothing in AWS does.
    async fn update(
        &self,
        _aws: &Aws,
        _current: &Current<'_, CertificateValidation, CertificateValidationOutputs>,
        _new: &CertificateValidation,
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    /// Nothing in AWS: the certificate is deleted as itself.
    async fn delete(
        &self,
        _aws: &Aws,
        _current: &Current<'_, CertificateValidation, CertificateValidationOutputs>,
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    /// The certificate it waits for, when that is issued.
    async fn find(
        &self,
        aws: &Aws,
        lookup: &Lookup<'_, CertificateValidation>,
    ) -> Result<Option<String>, ProviderError> {
        let Some(arn) = lookup.props.as_ref().map(|p| p.certificate.as_str().to_string()) else { return Ok(None) };
        let issued = describe(aws, &arn).await?.is_some_and(|c| c.status() == Some(&CertificateStatus::Issued));
        Ok(issued.then_some(arn))
    }
}
