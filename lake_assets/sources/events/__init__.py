"""Events: the intake (local and the AWS Lambda), the SQS sender, the landing index and raw writer."""
