"""Code that runs in AWS Lambda. This folder is the Lambda asset: it holds only what the functions import."""
