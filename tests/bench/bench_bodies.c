/* Rich notification bodies for scripts/bench.sh, made the way Graph (and
 * fake-graph) makes them, from a body fake-graph really delivered to the
 * daemon (its subscriptionId, clientState, tenantId and validationTokens are
 * kept): each item gets its own random key, AES-256-CBC content, HMAC and
 * RSA-OAEP-wrapped key (fg_crypto.c), for the next user in turn, alternating
 * Busy/InACall and Available/Available with growing sequenceNumbers, so
 * that every item changes a user and is published.
 *
 *   bench_bodies TEMPLATE.json CERT_B64_FILE USERS_FILE COUNT SEQ_BASE > bodies
 *
 * USERS_FILE: the users' Azure AD ids, one a line. One body (one item) a line. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fg_crypto.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t r = fread(s, 1, (size_t)n, f);
    s[r] = 0;
    fclose(f);
    while (r > 0 && (s[r - 1] == '\n' || s[r - 1] == '\r'))
        s[--r] = 0;
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: bench_bodies TEMPLATE CERT_B64 USERS COUNT SEQ_BASE\n");
        return 2;
    }
    char *tpl_text = slurp(argv[1]), *cert = slurp(argv[2]), *users_text = slurp(argv[3]);
    long count = atol(argv[4]);
    uint64_t seq = strtoull(argv[5], NULL, 10);
    cJSON *tpl = tpl_text ? cJSON_Parse(tpl_text) : NULL;
    cJSON *item0 = cJSON_GetArrayItem(cJSON_GetObjectItem(tpl, "value"), 0);
    if (!item0 || !cert || !users_text) {
        fprintf(stderr, "bad template, certificate or users file\n");
        return 1;
    }
    EVP_PKEY *key = NULL;
    char thumb[48];
    const char *err = NULL;
    if (fg_crypto__parse_cert(cert, &key, thumb, &err) != 0) {
        fprintf(stderr, "certificate: %s\n", err);
        return 1;
    }
    const char *cert_id = cJSON_GetStringValue(cJSON_GetObjectItem(
        cJSON_GetObjectItem(item0, "encryptedContent"), "encryptionCertificateId"));
    size_t nusers = 0;
    char *users[20000];
    for (char *s = strtok(users_text, "\n"); s && nusers < 20000; s = strtok(NULL, "\n"))
        users[nusers++] = s;
    if (!nusers || !cert_id) {
        fprintf(stderr, "no users or no certificate id\n");
        return 1;
    }
    for (long k = 0; k < count; k++) {
        const char *id = users[(size_t)k % nusers];
        int busy = ((size_t)k / nusers) % 2 == 0;
        char plain[512], odata[128], res[128], seqs[32];
        snprintf(seqs, sizeof(seqs), "%020" PRIu64, seq + (uint64_t)k);
        snprintf(odata, sizeof(odata), "users/%s/presence", id);
        snprintf(res, sizeof(res), "communications/presences/%s", id);
        int n =
            snprintf(plain, sizeof(plain),
                     "{\"@odata.type\":\"#Microsoft.Graph.presence\",\"@odata.id\":\"%s\","
                     "\"id\":\"%s\",\"availability\":\"%s\",\"activity\":\"%s\","
                     "\"sequenceNumber\":\"%s\"}",
                     odata, id, busy ? "Busy" : "Available", busy ? "InACall" : "Available", seqs);
        cJSON *item = cJSON_Duplicate(item0, 1);
        cJSON_ReplaceItemInObject(item, "resource", cJSON_CreateString(res));
        cJSON *rd = cJSON_GetObjectItem(item, "resourceData");
        if (rd) {
            cJSON_ReplaceItemInObject(rd, "@odata.id", cJSON_CreateString(odata));
            cJSON_ReplaceItemInObject(rd, "id", cJSON_CreateString(id));
        }
        cJSON_ReplaceItemInObject(item, "encryptedContent",
                                  fg_crypto__encrypt(key, cert_id, thumb, plain, (size_t)n));
        cJSON *body = cJSON_Duplicate(tpl, 1);
        cJSON *vals = cJSON_CreateArray();
        cJSON_AddItemToArray(vals, item);
        cJSON_ReplaceItemInObject(body, "value", vals);
        char *out = cJSON_PrintUnformatted(body);
        puts(out);
        free(out);
        cJSON_Delete(body);
    }
    EVP_PKEY_free(key);
    cJSON_Delete(tpl);
    free(tpl_text);
    free(cert);
    free(users_text);
    return 0;
}
