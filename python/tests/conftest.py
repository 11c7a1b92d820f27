import os

# requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a Session's own
# `verify` (psf/requests#3829), so the certsrv library's `cafile` (the
# harness's root) would be ignored on machines that set them.
for _var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
    os.environ.pop(_var, None)
