"""The lake's AWS CDK app: one stack per concern, built from the lake's settings and specs."""
