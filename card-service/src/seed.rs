//! Test data as code: a small sample data set (an account with cards, one without) and the cards'
//! images. Loading it again changes nothing.

use aws_sdk_s3::primitives::ByteStream;
use sqlx::PgPool;
use uuid::Uuid;

/// An account with two cards.
pub const ACCOUNT_WITH_CARDS: Uuid = Uuid::from_u128(0x5eed_0000_0000_0000_0000_0000_0000_0001);
/// An account without cards.
pub const ACCOUNT_WITHOUT_CARDS: Uuid = Uuid::from_u128(0x5eed_0000_0000_0000_0000_0000_0000_0002);

/// The sample card image (a 1×1 PNG, `card-service/seed/card.png`).
pub const SAMPLE_IMAGE: &[u8] = include_bytes!("../seed/card.png");

/// The sample cards: (id, holder, last four digits).
pub const SAMPLE_CARDS: [(Uuid, &str, &str); 2] = [
    (Uuid::from_u128(0x5eed_0000_0000_0000_0000_0000_0000_c001), "Ada Lovelace", "4242"),
    (Uuid::from_u128(0x5eed_0000_0000_0000_0000_0000_0000_c002), "Ada Lovelace", "1881"),
];

/// The key of a card's image under `prefix`.
pub fn image_key(prefix: &str, card: Uuid) -> String {
    format!("{prefix}{card}.png")
}

/// Loads the sample cards into the database and their images into the bucket.
pub async fn seed(db: &PgPool, s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> anyhow::Result<()> {
    for (i, (id, holder, last4)) in SAMPLE_CARDS.iter().enumerate() {
        let key = image_key(prefix, *id);
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .content_type("image/png")
            .body(ByteStream::from_static(SAMPLE_IMAGE))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("uploading {key}: {}", aws_sdk_s3::error::DisplayErrorContext(e)))?;
        sqlx::query(
            "INSERT INTO cards (id, account_id, holder, last4, status, image_key, created_at)
             VALUES ($1, $2, $3, $4, 'inactive', $5, TIMESTAMPTZ '2026-01-01' + make_interval(days => $6))
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(ACCOUNT_WITH_CARDS)
        .bind(holder)
        .bind(last4)
        .bind(&key)
        .bind(i as i32)
        .execute(db)
        .await?;
    }
    Ok(())
}
