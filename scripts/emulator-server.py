"""Starts the AWS API emulator (moto in server mode) with corrections where it answers differently
from AWS in a way the AWS SDK for Rust cannot read. Arguments are moto_server's (-H HOST -p PORT).

Corrections (each is a difference from AWS, not a behaviour of the product):
- S3 GetBucketVersioning: moto 5.2.5 answers with a <GetBucketVersioningResponse> root element;
  AWS answers with <VersioningConfiguration>, which is what the SDK parses.
"""

import sys

from moto.s3.responses import S3Response
from moto.server import main

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"


def get_bucket_versioning(self):
    status = self.backend.get_bucket_versioning(self.bucket_name)
    inner = f"<Status>{status}</Status>" if status else ""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<VersioningConfiguration xmlns="{S3_NAMESPACE}">{inner}</VersioningConfiguration>'
    )
    return 200, {"Content-Type": "application/xml"}, body


S3Response.get_bucket_versioning = get_bucket_versioning

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
