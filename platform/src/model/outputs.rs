//! The `outputs!` macro: a resource type's outputs declared once.

/// Declares what a resource type records once it exists: the struct the provider fills (its
/// fields are the outputs), the names the type's schema lists (`NAMES`), and, for each output
/// followed by `=> method(Kind)`, the method of the type's [`Handle`](crate::model::Handle) that
/// gives a typed reference to it.
///
/// ```ignore
/// outputs! {
///     /// What a VPC records.
///     Vpc => VpcOutputs {
///         /// The VPC's id.
///         id: String => id(VpcId),
///         /// Its IPv4 block.
///         cidr_block: String => cidr_block(CidrBlock),
///     }
/// }
/// ```
macro_rules! outputs {
    (
        $(#[doc = $doc:literal])*
        $resource:ty => $name:ident {
            $(
                $(#[doc = $fdoc:literal])*
                $(#[serde $serde:tt])*
                $field:ident : $fty:ty $( => $method:ident ( $kind:ty ) )?
            ),* $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        pub struct $name {
            $(
                $(#[doc = $fdoc])*
                $(#[serde $serde])*
                pub $field: $fty,
            )*
        }

        impl $name {
            /// The output names, as the type's schema lists them and references name them.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($field)),*];
        }

        impl $crate::model::Handle<$resource> {
            $(
                $crate::model::outputs!(@method [$(#[doc = $fdoc])*] $field $($method ($kind))?);
            )*
        }
    };
    (@method [$($doc:tt)*] $field:ident $method:ident ($kind:ty)) => {
        $($doc)*
        pub fn $method(&self) -> $crate::model::Ref<$kind> {
            self.output(stringify!($field))
        }
    };
    (@method [$($doc:tt)*] $field:ident) => {};
}

pub(crate) use outputs;
