"""cdk8s charts: each renders one concern, in its own cdk8s App, with no CDK tokens inside.

Token-free charts render to the same YAML whether applied by `cdk deploy` or written to
dist/<env>/ for kubectl and GitOps users.
"""
