"""The PagerDuty REST API v2 client: auth, regions, paging, rate limits, retries, typed models.

It knows nothing of documents, the index, settings files or the web app.
"""
