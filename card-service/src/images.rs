//! Presigned URLs of card images, signed in the process with SigV4 (`aws-sigv4`).
//!
//! A list of cards carries one URL per card, so signing is on the hot path of the busiest
//! endpoint. Going through the S3 client's presigning pipeline costs about 0.1 ms of CPU per URL
//! (endpoint resolution, interceptors, identity resolution for every URL); here the bucket's
//! endpoint is resolved once at start-up with the SDK's own S3 endpoint rules, credentials are
//! cached until shortly before they expire, and each URL is only a canonical request and a few
//! HMAC-SHA256 — the same signature the SDK computes (checked against AWS's published example).

use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sdk_s3::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use aws_sigv4::http_request::{
    sign, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4::SigningParams;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What an object key keeps unencoded in a URL path: RFC 3986's unreserved characters, and `/`
/// between segments (as S3 and the SDKs encode keys).
const KEY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// How long a presigned image URL is valid.
pub const URL_VALIDITY: Duration = Duration::from_secs(600);

/// Credentials are renewed when they would expire within this margin past a URL's validity, so
/// that no URL handed out dies before its time.
const RENEW_MARGIN: Duration = Duration::from_secs(60);

/// When the provider hands out credentials that already fall within the margin, they are used
/// and asked for again at most this often.
const RENEW_INTERVAL: Duration = Duration::from_secs(10);

/// Why image URLs cannot be signed.
#[derive(Debug, thiserror::Error)]
pub enum ImagesError {
    /// The AWS configuration has no region.
    #[error("no AWS region is configured (set AWS_REGION)")]
    NoRegion,
    /// The AWS configuration has no credentials provider.
    #[error("no AWS credentials provider is configured")]
    NoCredentials,
    /// The S3 endpoint rules reject the bucket or configuration.
    #[error("cannot resolve the S3 endpoint of bucket `{bucket}`")]
    Endpoint {
        /// The bucket.
        bucket: String,
        /// What the rules said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The credentials provider failed.
    #[error("cannot obtain AWS credentials")]
    Credentials(#[source] aws_credential_types::provider::error::CredentialsError),
    /// Signing failed (a malformed URL).
    #[error("cannot sign the URL of `{key}`")]
    Signing {
        /// The object key.
        key: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The images bucket and what it takes to sign GET URLs of its objects.
pub struct Images {
    /// The bucket's endpoint as the S3 rules resolve it, without a trailing slash: virtual-hosted
    /// (`https://bucket.s3.eu-west-1.amazonaws.com`) or path-style (`http://host:port/bucket`).
    endpoint: String,
    region: String,
    validity: Duration,
    provider: SharedCredentialsProvider,
    cached: RwLock<Option<Cached>>,
    renewing: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Cached {
    credentials: Credentials,
    fetched: SystemTime,
}

impl Cached {
    fn usable(&self, now: SystemTime, validity: Duration) -> bool {
        let lasts = match self.credentials.expiry() {
            None => true,
            Some(expiry) => expiry > now + validity + RENEW_MARGIN,
        };
        lasts || now.duration_since(self.fetched).unwrap_or_default() < RENEW_INTERVAL
    }
}

impl Images {
    /// Resolves the endpoint of `bucket` from the AWS configuration (region, `AWS_ENDPOINT_URL`,
    /// FIPS and dual-stack settings) with the SDK's S3 endpoint rules.
    pub async fn new(aws: &SdkConfig, bucket: &str) -> Result<Images, ImagesError> {
        let region = aws.region().ok_or(ImagesError::NoRegion)?.to_string();
        let provider = aws.credentials_provider().ok_or(ImagesError::NoCredentials)?;
        let params = Params::builder()
            .bucket(bucket)
            .region(&region)
            .set_endpoint(aws.endpoint_url().map(str::to_string))
            .set_use_fips(aws.use_fips())
            .set_use_dual_stack(aws.use_dual_stack())
            .build()
            .map_err(|e| ImagesError::Endpoint { bucket: bucket.to_string(), source: e.into() })?;
        let endpoint = DefaultResolver::new()
            .resolve_endpoint(&params)
            .await
            .map_err(|source| ImagesError::Endpoint { bucket: bucket.to_string(), source })?;
        Ok(Images {
            endpoint: endpoint.url().trim_end_matches('/').to_string(),
            region,
            validity: URL_VALIDITY,
            provider,
            cached: RwLock::new(None),
            renewing: tokio::sync::Mutex::new(()),
        })
    }

    /// Obtains credentials now, so that no request waits on the credential chain and a service
    /// without credentials fails at start-up.
    pub async fn warm_up(&self) -> Result<(), ImagesError> {
        self.credentials(SystemTime::now()).await.map(|_| ())
    }

    /// A presigned GET URL of `key`, valid [`URL_VALIDITY`] from now (or until the credentials
    /// expire, if sooner — they are renewed before that can happen).
    pub async fn url(&self, key: &str) -> Result<String, ImagesError> {
        let now = SystemTime::now();
        let credentials = self.credentials(now).await?;
        self.sign(&credentials, key, now)
    }

    /// The signature of a GET of `key` at `time`, as S3 checks it: the key as the path (slashes
    /// kept, everything else percent-encoded once), only `host` signed, an unsigned payload.
    fn sign(&self, credentials: &Credentials, key: &str, time: SystemTime) -> Result<String, ImagesError> {
        let failed =
            |source: Box<dyn std::error::Error + Send + Sync>| ImagesError::Signing { key: key.to_string(), source };
        let url = format!("{}/{}", self.endpoint, utf8_percent_encode(key, KEY));
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(self.validity);
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let identity = credentials.clone().into();
        let params = SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(time)
            .settings(settings)
            .build()
            .map_err(|e| failed(e.into()))?
            .into();
        let request = SignableRequest::new("GET", url.as_str(), std::iter::empty(), SignableBody::UnsignedPayload)
            .map_err(|e| failed(e.into()))?;
        let (instructions, _signature) = sign(request, &params).map_err(|e| failed(e.into()))?.into_parts();
        let mut request = http::Request::get(url.as_str()).body(()).map_err(|e| failed(e.into()))?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request.uri().to_string())
    }

    async fn credentials(&self, now: SystemTime) -> Result<Credentials, ImagesError> {
        let current = || self.cached.read().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(cached) = current().filter(|c| c.usable(now, self.validity)) {
            return Ok(cached.credentials);
        }
        // One request renews them; the others wait for it rather than asking too.
        let _renewing = self.renewing.lock().await;
        if let Some(cached) = current().filter(|c| c.usable(now, self.validity)) {
            return Ok(cached.credentials);
        }
        let credentials = self.provider.provide_credentials().await.map_err(ImagesError::Credentials)?;
        *self.cached.write().unwrap_or_else(|e| e.into_inner()) =
            Some(Cached { credentials: credentials.clone(), fetched: SystemTime::now() });
        Ok(credentials)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use aws_credential_types::provider::future;

    use super::*;

    fn config(endpoint: Option<&str>, region: &str, provider: impl ProvideCredentials + 'static) -> SdkConfig {
        let mut config = SdkConfig::builder()
            .region(aws_config::Region::new(region.to_string()))
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .behavior_version(aws_config::BehaviorVersion::latest());
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint);
        }
        config.build()
    }

    const EXAMPLE_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
    const EXAMPLE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[tokio::test]
    async fn signs_the_example_of_the_s3_documentation() {
        // "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)", Amazon S3
        // API reference: GET examplebucket/test.txt in us-east-1 at 2013-05-24T00:00:00Z, valid
        // 86,400 s; the published signature is aeeed9bb…
        let credentials = Credentials::new(EXAMPLE_KEY_ID, EXAMPLE_SECRET, None, None, "example");
        let mut images = Images::new(&config(None, "us-east-1", credentials.clone()), "examplebucket").await.unwrap();
        // The endpoint rules name the regional endpoint; the example uses the global one.
        assert_eq!(images.endpoint, "https://examplebucket.s3.us-east-1.amazonaws.com");
        images.endpoint = "https://examplebucket.s3.amazonaws.com".into();
        images.validity = Duration::from_secs(86_400);
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600);
        assert_eq!(
            images.sign(&credentials, "test.txt", time).unwrap(),
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[tokio::test]
    async fn urls_are_valid_ten_minutes_and_carry_the_session_token() {
        let credentials = Credentials::new(EXAMPLE_KEY_ID, EXAMPLE_SECRET, Some("the+token".into()), None, "t");
        let images = Images::new(&config(None, "eu-west-1", credentials), "card-images").await.unwrap();
        let url = images.url("cards/a b+c.png").await.unwrap();
        assert!(url.starts_with("https://card-images.s3.eu-west-1.amazonaws.com/cards/a%20b%2Bc.png?"), "{url}");
        assert!(url.contains("&X-Amz-Expires=600&"), "{url}");
        assert!(url.contains("X-Amz-Security-Token=the%2Btoken"), "{url}");
    }

    #[tokio::test]
    async fn a_custom_endpoint_given_by_address_is_addressed_path_style() {
        let credentials = Credentials::new(EXAMPLE_KEY_ID, EXAMPLE_SECRET, None, None, "t");
        let images = Images::new(&config(Some("http://127.0.0.1:4566"), "eu-west-1", credentials), "images").await;
        assert_eq!(images.unwrap().endpoint, "http://127.0.0.1:4566/images");
    }

    #[tokio::test]
    async fn a_configuration_without_region_is_an_error_at_start_up() {
        let credentials = Credentials::new(EXAMPLE_KEY_ID, EXAMPLE_SECRET, None, None, "t");
        let config = SdkConfig::builder().credentials_provider(SharedCredentialsProvider::new(credentials)).build();
        let error = Images::new(&config, "images").await.err().unwrap();
        assert!(matches!(error, ImagesError::NoRegion), "{error:?}");
    }

    /// Hands out credentials expiring `lifetime` after they are asked for, counting the asks.
    #[derive(Debug, Clone)]
    struct Expiring {
        lifetime: Duration,
        asked: Arc<AtomicUsize>,
    }

    impl ProvideCredentials for Expiring {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.asked.fetch_add(1, Ordering::SeqCst);
            let expiry = SystemTime::now() + self.lifetime;
            future::ProvideCredentials::ready(Ok(Credentials::new(
                format!("AKID{n}"),
                EXAMPLE_SECRET,
                Some("token".into()),
                Some(expiry),
                "expiring",
            )))
        }
    }

    #[tokio::test]
    async fn credentials_are_asked_for_once_and_renewed_before_urls_would_outlive_them() {
        let asked = Arc::new(AtomicUsize::new(0));
        let hours = Expiring { lifetime: Duration::from_secs(6 * 3600), asked: asked.clone() };
        let images = Arc::new(Images::new(&config(None, "eu-west-1", hours), "images").await.unwrap());
        images.warm_up().await.unwrap();
        let signers: Vec<_> = (0..50)
            .map(|i| {
                let images = images.clone();
                tokio::spawn(async move { images.url(&format!("cards/{i}.png")).await.unwrap() })
            })
            .collect();
        for signer in signers {
            assert!(signer.await.unwrap().contains("AKID0"));
        }
        assert_eq!(asked.load(Ordering::SeqCst), 1, "cached for all 50 URLs");

        // Credentials that would expire before a URL signed now: renewed, but not on every URL.
        let asked = Arc::new(AtomicUsize::new(0));
        let short = Expiring { lifetime: URL_VALIDITY, asked: asked.clone() };
        let images = Images::new(&config(None, "eu-west-1", short), "images").await.unwrap();
        images.url("a").await.unwrap();
        images.url("b").await.unwrap();
        assert_eq!(asked.load(Ordering::SeqCst), 1, "asked again at most every {RENEW_INTERVAL:?}");
        let old = SystemTime::now() - RENEW_INTERVAL;
        images.cached.write().unwrap().as_mut().unwrap().fetched = old;
        assert!(images.url("c").await.unwrap().contains("AKID1"), "renewed once they fall within the margin");
        assert_eq!(asked.load(Ordering::SeqCst), 2);
    }
}
