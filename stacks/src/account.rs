//! What an AWS account holds once, whatever environments share it: GitHub Actions' OIDC identity
//! provider. AWS keeps one provider per issuer URL and account
//! (<https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateOpenIDConnectProvider.html>: "You
//! cannot register the same provider multiple times in a single Amazon Web Services account"), so
//! it cannot belong to an environment's pipeline stack: two environments would fight over it, and
//! destroying either would cut off every deploy.
//!
//! An administrator applies it once per account, before the pipeline stacks
//! (`platform apply --stack account`); its state is the account's (environment `account`),
//! whichever environment's command applies it. The pipeline stacks find the provider by its URL
//! ([`github_provider_arn`]).

use platform::model::{Env, Handle, Ref, Stack, StackError, StackSpec};
use platform::resources::iam::OidcProvider;
use platform::resources::{Arn, Tags};

/// The stack's name.
pub const NAME: &str = "account";

/// The environment its state and tags carry: the account's, not one deployment environment's.
pub const ENV: &str = "account";

/// GitHub Actions' token issuer.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The account stack and its handles.
#[derive(Debug, Clone)]
pub struct Account {
    /// The checked stack.
    pub spec: StackSpec,
    /// GitHub's OIDC provider.
    pub github: Handle<OidcProvider>,
}

/// The ARN of GitHub's OIDC provider in the account a stack is applied in: the provider is named
/// by its issuer's host and path (`oidc-provider/token.actions.githubusercontent.com`).
pub fn github_provider_arn() -> Ref<Arn> {
    let host = GITHUB_ISSUER.trim_start_matches("https://");
    Ref::account_arn("iam", &format!("oidc-provider/{host}"))
}

/// The account stack.
pub fn account() -> Result<Account, StackError> {
    let env = Env::new(ENV).expect("`account` is an environment name");
    let mut s = Stack::new(NAME, &env);
    let github = s.add(
        "github",
        OidcProvider {
            url: GITHUB_ISSUER.into(),
            client_ids: vec!["sts.amazonaws.com".into()],
            // AWS no longer validates GitHub's tokens by thumbprint (it trusts GitHub's certificate
            // authority), but the API still takes them.
            thumbprints: vec![
                "6938fd4d98bab03faadb97b34396831e3780aea1".into(),
                "1c58a3a8518e8759bf075b76b750d4f2df264fcd".into(),
            ],
            tags: Tags::new(),
        },
    );
    s.output("github_provider_arn", github.arn());
    Ok(Account { spec: s.build()?, github })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_account_stack_holds_the_provider_the_pipelines_find_by_url() {
        let account = super::account().unwrap();
        assert_eq!(account.spec.env.to_string(), "account");
        let arn = serde_json::to_value(super::github_provider_arn()).unwrap().to_string();
        assert!(arn.contains(":oidc-provider/token.actions.githubusercontent.com"), "{arn}");
        assert!(arn.contains("aws.account") && arn.contains("aws.partition"), "{arn}");
    }
}
