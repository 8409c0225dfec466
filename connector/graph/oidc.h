/* The tenant's OpenID configuration (docs/graph.md, "Tenant id and signing
 * keys"): `{login_url}/{tenant}/v2.0/.well-known/openid-configuration`
 * gives the issuer, which holds the tenant's GUID even when the tenant was
 * named by a domain, and the `jwks_uri` of the keys that sign Graph's
 * validationTokens. Pure: no network (the Graph side fetches the document).
 */
#ifndef PS_GRAPH_OIDC_H
#define PS_GRAPH_OIDC_H

#include <stdbool.h>
#include <stddef.h>

#define OIDC_GUID_LEN    36
#define OIDC_URL_MAX     1024
#define OIDC_DOC_MAX     (256 * 1024)
#define OIDC_ISSUER_V1   "https://sts.windows.net/{tenantid}/"
#define OIDC_ISSUER_V2   "https://login.microsoftonline.com/{tenantid}/v2.0"
#define OIDC_TENANT_SLOT "{tenantid}"

struct oidc_doc {
    char issuer[OIDC_URL_MAX];
    char jwks_uri[OIDC_URL_MAX];
    char token_endpoint[OIDC_URL_MAX];   /* "" when absent */
    char tenant_guid[OIDC_GUID_LEN + 1]; /* from issuer; "" for {tenantid} */
};

/* Parses the document. issuer and jwks_uri are required, http(s) URLs.
 * Returns 0, or -1 with a reason in err. */
int oidc__parse(const char *body, size_t len, struct oidc_doc *out, char *err, size_t errlen);

/* True for xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex, any case). */
bool oidc__is_guid(const char *s);

/* The GUID in an issuer's first path segment (`https://host/{guid}/...`),
 * lower-cased into out. Returns 0, or -1 when that segment is no GUID. */
int oidc__issuer_guid(const char *issuer, char out[OIDC_GUID_LEN + 1]);

/* The issuer as a template: the GUID segment replaced by `{tenantid}` (as
 * Microsoft writes it in the common documents). malloc'd; NULL when the
 * issuer holds no GUID. */
char *oidc__issuer_template(const char *issuer);

/* The identity-platform URLs of a tenant, malloc'd:
 * {login}/{tenant}/v2.0/.well-known/openid-configuration */
char *oidc__config_url(const char *login_url, const char *tenant);

#endif
