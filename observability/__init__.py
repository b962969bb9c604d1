"""What the monitoring is, whichever way it is collected: the rules, the dashboard, the scrape configuration.

Charts deliver these as Kubernetes objects (PrometheusRule, ConfigMap) and components as AWS resources
(an AMP rule groups namespace, a managed scraper); both import them from here, so neither depends on the other.
"""
