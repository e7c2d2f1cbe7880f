/* test_report.c: CRC32C vectors, TFRecord/tfevents files parsed back record by record with CRC
 * checks, the progress line, and the JSON writer/reader. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kiln/json.h"
#include "kiln/report.h"
#include "test.h"

static char tmpdir[256];

static void make_tmpdir(void) {
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/kiln_report_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(1);
    }
}

/* Bitwise CRC32C, the definition the table must match. */
static uint32_t crc_bitwise(const uint8_t *p, size_t n) {
    uint32_t v = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        v ^= p[i];
        for (int k = 0; k < 8; k++)
            v = (v >> 1) ^ (0x82F63B78u & (0u - (v & 1u)));
    }
    return ~v;
}

static void test_crc32c(void) {
    CHECK_EQ_INT(kiln_crc32c(0, "123456789", 9), 0xE3069283u);
    CHECK_EQ_INT(kiln_crc32c(0, "", 0), 0);
    /* RFC 3720 (iSCSI) B.4 vectors. */
    uint8_t buf[48];
    memset(buf, 0, 32);
    CHECK_EQ_INT(kiln_crc32c(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xff, 32);
    CHECK_EQ_INT(kiln_crc32c(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    CHECK_EQ_INT(kiln_crc32c(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    CHECK_EQ_INT(kiln_crc32c(0, buf, 32), 0x113FDB5Cu);
    static const uint8_t iscsi[48] = {0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00,
                                      0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00,
                                      0x00, 0x18, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                      0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    CHECK_EQ_INT(kiln_crc32c(0, iscsi, 48), 0xD9963A56u);
    /* Continuation: crc(a ++ b) == crc(crc(a), b); and every table entry via random data. */
    CHECK_EQ_INT(kiln_crc32c(kiln_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
    uint8_t rnd[1000];
    uint32_t s = 12345;
    for (size_t i = 0; i < sizeof rnd; i++)
        rnd[i] = (uint8_t)((s = s * 1103515245u + 12345u) >> 16);
    int same = 1;
    for (size_t n = 0; n <= sizeof rnd; n += 37)
        if (kiln_crc32c(0, rnd, n) != crc_bitwise(rnd, n)) same = 0;
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        if (kiln_crc32c(0, &c, 1) != crc_bitwise(&c, 1)) same = 0;
    }
    CHECK(same);
    /* TFRecord mask of TensorFlow's crc32c.h: rotate right 15, add 0xa282ead8. */
    CHECK_EQ_INT(kiln_crc32c_mask(0), 0xa282ead8u);
    CHECK_EQ_INT(kiln_crc32c_mask(0xE3069283u),
                 (uint32_t)(((0xE3069283u >> 15) | (0xE3069283u << 17)) + 0xa282ead8u));
}

typedef struct collected {
    int n;
    kiln_tfevent ev[64];
} collected;

static int collect(void *ud, const kiln_tfevent *ev) {
    collected *c = ud;
    if (c->n < 64) c->ev[c->n++] = *ev;
    return 0;
}

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void test_tfevents(void) {
    char err[KILN_ERRLEN] = "";
    char dir[512];
    snprintf(dir, sizeof dir, "%s/run/sub", tmpdir); /* nested dirs are created */
    kiln_tfevents *w = NULL;
    CHECK_EQ_INT(kiln_tfevents_open(dir, &w, err, sizeof err), KILN_OK);
    if (!w) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    const char *path = kiln_tfevents_path(w);
    CHECK(strstr(path, "/events.out.tfevents.") != NULL);
    char pathcopy[4096];
    snprintf(pathcopy, sizeof pathcopy, "%s", path);
    for (int i = 0; i < 10; i++)
        CHECK_EQ_INT(kiln_tfevents_scalar(w, i % 2 ? "train/loss" : "train/accuracy",
                                          (float)i * 0.25f, (int64_t)i * 100, 1700000000.5 + i),
                     KILN_OK);
    CHECK_EQ_INT(kiln_tfevents_scalar(w, "big_step", -1.5f, INT64_C(5000000000), -1), KILN_OK);
    CHECK_EQ_INT(kiln_tfevents_close(w), KILN_OK);

    /* A second writer in the same second gets a distinct file. */
    kiln_tfevents *w2 = NULL;
    CHECK_EQ_INT(kiln_tfevents_open(dir, &w2, err, sizeof err), KILN_OK);
    if (w2) CHECK(strcmp(kiln_tfevents_path(w2), pathcopy) != 0);
    kiln_tfevents_close(w2);

    /* Parse the bytes by hand: framing and both CRCs of every record. */
    FILE *f = fopen(pathcopy, "rb");
    CHECK(f != NULL);
    if (!f) return;
    uint8_t buf[4096];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    size_t off = 0;
    int records = 0, crc_ok = 1;
    while (off + 12 <= len) {
        uint64_t n = (uint64_t)rd32(buf + off) | (uint64_t)rd32(buf + off + 4) << 32;
        if (rd32(buf + off + 8) != kiln_crc32c_mask(kiln_crc32c(0, buf + off, 8))) crc_ok = 0;
        if (off + 12 + n + 4 > len) break;
        if (rd32(buf + off + 12 + n) != kiln_crc32c_mask(kiln_crc32c(0, buf + off + 12, n)))
            crc_ok = 0;
        if (records == 0) {
            /* Event{wall_time (field 1, fixed64), file_version (field 3) = "brain.Event:2"} */
            CHECK_EQ_INT(buf[off + 12], 0x09);
            CHECK_EQ_INT(buf[off + 12 + 9], 0x1a);
            CHECK_EQ_INT(buf[off + 12 + 10], 13);
            CHECK(memcmp(buf + off + 12 + 11, "brain.Event:2", 13) == 0);
            CHECK_EQ_INT(n, 24);
        }
        off += 12 + n + 4;
        records++;
    }
    CHECK_EQ_INT(off, len);
    CHECK_EQ_INT(records, 12);
    CHECK(crc_ok);

    /* Known bytes for record 2: wall_time 1700000000.5, step 0, tag "train/accuracy", 0.0 */
    {
        /* Event: 09 <8 bytes double> 10 00 2a 16 (Summary: 0a 14 (Value: 0a 0e tag 15 <f32>)) */
        size_t o2 = 12 + 24 + 4; /* second record */
        const uint8_t *e = buf + o2 + 12;
        CHECK_EQ_INT(e[0], 0x09);
        double wt;
        uint64_t u = (uint64_t)rd32(e + 1) | (uint64_t)rd32(e + 5) << 32;
        memcpy(&wt, &u, 8);
        CHECK(wt == 1700000000.5);
        CHECK_EQ_INT(e[9], 0x10);
        CHECK_EQ_INT(e[10], 0x00);
        CHECK_EQ_INT(e[11], 0x2a);
        CHECK_EQ_INT(e[12], 2 + 2 + 14 + 5);
        CHECK_EQ_INT(e[13], 0x0a);
        CHECK_EQ_INT(e[14], 2 + 14 + 5);
        CHECK_EQ_INT(e[15], 0x0a);
        CHECK_EQ_INT(e[16], 14);
        CHECK(memcmp(e + 17, "train/accuracy", 14) == 0);
        CHECK_EQ_INT(e[31], 0x15);
    }

    /* And through the reader. */
    collected c;
    memset(&c, 0, sizeof c);
    CHECK_EQ_INT(kiln_tfevents_read(pathcopy, collect, &c, err, sizeof err), KILN_OK);
    CHECK_EQ_INT(c.n, 12);
    CHECK(strcmp(c.ev[0].file_version, "brain.Event:2") == 0);
    CHECK(c.ev[0].tag[0] == 0);
    for (int i = 0; i < 10 && c.n == 12; i++) {
        CHECK(strcmp(c.ev[1 + i].tag, i % 2 ? "train/loss" : "train/accuracy") == 0);
        CHECK(c.ev[1 + i].value == (float)i * 0.25f);
        CHECK_EQ_INT(c.ev[1 + i].step, i * 100);
        CHECK(c.ev[1 + i].wall_time == 1700000000.5 + i);
    }
    if (c.n == 12) {
        CHECK_EQ_INT(c.ev[11].step, INT64_C(5000000000));
        CHECK(c.ev[11].value == -1.5f);
        CHECK(c.ev[11].wall_time > 1.6e9);
    }

    /* Corruptions are reported with the byte offset: a flipped data byte, a cut file. */
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/bad.tfevents", tmpdir);
    buf[12 + 24 + 4 + 12 + 20] ^= 0x01;
    f = fopen(bad, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
    kiln_status st = kiln_tfevents_read(bad, NULL, NULL, err, sizeof err);
    CHECK_EQ_INT(st, KILN_ERR_IO);
    CHECK_MSG(strstr(err, "bad data CRC in record at byte 40") != NULL, "%s", err);
    buf[12 + 24 + 4 + 12 + 20] ^= 0x01;
    f = fopen(bad, "wb");
    fwrite(buf, 1, len - 3, f);
    fclose(f);
    st = kiln_tfevents_read(bad, NULL, NULL, err, sizeof err);
    CHECK_EQ_INT(st, KILN_ERR_IO);
    CHECK_MSG(strstr(err, "truncated record") != NULL, "%s", err);
    buf[3] ^= 0x40; /* length field */
    f = fopen(bad, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
    st = kiln_tfevents_read(bad, NULL, NULL, err, sizeof err);
    CHECK_EQ_INT(st, KILN_ERR_IO);
    CHECK_MSG(strstr(err, "bad length CRC in record at byte 0") != NULL, "%s", err);

    /* Opening under a regular file fails with a message. */
    char notdir[4300];
    snprintf(notdir, sizeof notdir, "%s/sub", bad);
    w = NULL;
    CHECK(kiln_tfevents_open(notdir, &w, err, sizeof err) == KILN_ERR_IO && w == NULL);
    CHECK_MSG(strstr(err, "cannot create directory") != NULL, "%s", err);
}

static void test_progress(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/progress.txt", tmpdir);
    FILE *f = fopen(path, "w+");
    kiln_progress p;
    kiln_progress_begin(&p, f, "epoch 2/10", 1000);
    CHECK_EQ_INT(p.tty, 0);
    kiln_progress_metric(&p, "loss", 0.5);
    kiln_progress_metric(&p, "acc", 0.75);
    kiln_progress_metric(&p, "loss", 0.25); /* replaces */
    CHECK_EQ_INT(p.num_metrics, 2);
    for (int i = 1; i <= 100; i++)
        kiln_progress_update_at(&p, i * 10, i * 0.01);
    kiln_progress_end(&p);
    rewind(f);
    char lines[8][256];
    int n = 0;
    while (n < 8 && fgets(lines[n], sizeof lines[n], f))
        n++;
    fclose(f);
    /* 25%, 50%, 75% and the end line; no \r when not a terminal */
    CHECK_EQ_INT(n, 4);
    if (n == 4) {
        CHECK_MSG(strstr(lines[0], "epoch 2/10 250/1000  25% 1000/s loss 0.2500 acc 0.7500 "
                                   "ETA 0:01") == lines[0],
                  "%s", lines[0]);
        CHECK_MSG(strstr(lines[1], "500/1000  50%") != NULL, "%s", lines[1]);
        CHECK(strstr(lines[3], "1000/1000") != NULL && strstr(lines[3], "ETA") == NULL);
        for (int i = 0; i < n; i++)
            CHECK(strchr(lines[i], '\r') == NULL);
    }
    /* The terminal form: a bar, percent and ETA. */
    kiln_progress q;
    kiln_progress_begin(&q, NULL, "eval", 200);
    q.tty = 1;
    q.width = 10;
    q.done = 50;
    char line[256];
    kiln_progress_format(&q, 2.0, line, sizeof line);
    CHECK_MSG(strcmp(line, "eval [==>       ] 50/200  25% 25/s ETA 0:06") == 0, "%s", line);
    q.done = 0;
    kiln_progress_format(&q, 0.0, line, sizeof line);
    CHECK_MSG(strstr(line, "ETA --:--") != NULL, "%s", line);
    /* NULL out: nothing printed, no crash */
    kiln_progress_update(&q, 100);
    kiln_progress_end(&q);
    /* many metrics do not overflow the line */
    for (int i = 0; i < 20; i++) {
        char nm[48];
        snprintf(nm, sizeof nm, "metric_with_long_name_%d", i);
        kiln_progress_metric(&q, nm, 1e30);
    }
    CHECK_EQ_INT(q.num_metrics, KILN_PROGRESS_MAX_METRICS);
    kiln_progress_format(&q, 1.0, line, sizeof line);
    CHECK(strlen(line) < sizeof line);
}

static void test_json_writer(void) {
    kiln_json w;
    kiln_json_init_buffer(&w, 0);
    kiln_json_obj_begin(&w);
    kiln_json_kv_str(&w, "s", "a\"b\\c\n\t\x01/é");
    kiln_json_kv_num(&w, "pi", 3.141592653589793);
    kiln_json_kv_num(&w, "tenth", 0.1);
    kiln_json_kv_num(&w, "f", (double)0.1f);
    kiln_json_kv_float(&w, "g", 0.1f);
    kiln_json_kv_float(&w, "gbig", 16777217.0f);
    kiln_json_kv_float(&w, "gnan", NAN);
    kiln_json_kv_num(&w, "nan", NAN);
    kiln_json_kv_num(&w, "inf", -INFINITY);
    kiln_json_kv_int(&w, "big", INT64_C(-9007199254740993));
    kiln_json_kv_bool(&w, "t", 1);
    kiln_json_key(&w, "arr");
    kiln_json_arr_begin(&w);
    kiln_json_num(&w, 1e300);
    kiln_json_num(&w, 5e-324);
    kiln_json_null(&w);
    kiln_json_arr_begin(&w);
    kiln_json_arr_end(&w);
    kiln_json_obj_begin(&w);
    kiln_json_obj_end(&w);
    kiln_json_arr_end(&w);
    kiln_json_kv_str(&w, "bad_utf8", "x\xff\xc3");
    kiln_json_obj_end(&w);
    CHECK_EQ_INT(kiln_json_finish(&w), KILN_OK);
    const char *t = kiln_json_text(&w, NULL);
    const char *want = "{\"s\":\"a\\\"b\\\\c\\n\\t\\u0001/é\",\"pi\":3.141592653589793,"
                       "\"tenth\":0.1,\"f\":0.10000000149011612,\"g\":0.1,\"gbig\":16777216,"
                       "\"gnan\":null,\"nan\":null,\"inf\":null,"
                       "\"big\":-9007199254740993,\"t\":true,\"arr\":[1e+300,5e-324,"
                       "null,[],{}],\"bad_utf8\":\"x\\ufffd\\ufffd\"}";
    CHECK_MSG(strcmp(t, want) == 0, "\n got  %s\n want %s", t, want);

    /* Round trip through the reader. */
    kiln_json_value *v = NULL;
    char err[KILN_ERRLEN];
    CHECK_EQ_INT(kiln_json_parse(t, strlen(t), "w", &v, err, sizeof err), KILN_OK);
    if (v) {
        CHECK(strcmp(kiln_json_get_str(v, "s"), "a\"b\\c\n\t\x01/é") == 0);
        CHECK(kiln_json_get_num(v, "pi", 0) == 3.141592653589793);
        CHECK(kiln_json_get_num(v, "f", 0) == (double)0.1f);
        CHECK((float)kiln_json_get_num(v, "g", 0) == 0.1f);
        CHECK(kiln_json_get(v, "nan")->type == KILN_JSON_NULL);
        CHECK(kiln_json_get_num(v, "big", 0) == -9007199254740992.0);
        const kiln_json_value *a = kiln_json_get(v, "arr");
        CHECK(a && a->type == KILN_JSON_ARRAY && a->len == 5);
        if (a && a->len == 5) CHECK(a->items[1].number == 5e-324);
        CHECK(kiln_json_get(v, "missing") == NULL);
        CHECK(kiln_json_get_num(v, "missing", 42) == 42);
    }
    kiln_json_value_free(v);
    kiln_json_free(&w);

    /* Pretty-printed; misuse is reported by finish. */
    kiln_json_init_buffer(&w, 2);
    kiln_json_obj_begin(&w);
    kiln_json_kv_int(&w, "a", 1);
    kiln_json_key(&w, "b");
    kiln_json_arr_begin(&w);
    kiln_json_int(&w, 2);
    kiln_json_int(&w, 3);
    kiln_json_arr_end(&w);
    kiln_json_obj_end(&w);
    CHECK_EQ_INT(kiln_json_finish(&w), KILN_OK);
    CHECK_MSG(strcmp(kiln_json_text(&w, NULL),
                     "{\n  \"a\": 1,\n  \"b\": [\n    2,\n    3\n  ]\n}\n") == 0,
              "%s", kiln_json_text(&w, NULL));
    char path[512];
    snprintf(path, sizeof path, "%s/summary.json", tmpdir);
    CHECK_EQ_INT(kiln_json_save(&w, path, err, sizeof err), KILN_OK);
    v = NULL;
    CHECK_EQ_INT(kiln_json_parse_file(path, &v, err, sizeof err), KILN_OK);
    CHECK(v && kiln_json_get_num(v, "a", 0) == 1);
    kiln_json_value_free(v);
    kiln_json_free(&w);

    kiln_json_init_buffer(&w, 0);
    kiln_json_obj_begin(&w);
    kiln_json_int(&w, 1); /* value without key */
    kiln_json_obj_end(&w);
    CHECK_EQ_INT(kiln_json_finish(&w), KILN_ERR_STATE);
    kiln_json_free(&w);
    kiln_json_init_buffer(&w, 0);
    kiln_json_arr_begin(&w);
    CHECK_EQ_INT(kiln_json_finish(&w), KILN_ERR_STATE); /* unclosed */
    kiln_json_free(&w);

    /* To a FILE */
    snprintf(path, sizeof path, "%s/f.json", tmpdir);
    FILE *f = fopen(path, "w");
    kiln_json_init_file(&w, f, 0);
    kiln_json_arr_begin(&w);
    kiln_json_str(&w, "x");
    kiln_json_arr_end(&w);
    CHECK_EQ_INT(kiln_json_finish(&w), KILN_OK);
    fclose(f);
    f = fopen(path, "r");
    char got[64] = "";
    CHECK(fgets(got, sizeof got, f) != NULL);
    fclose(f);
    CHECK(strcmp(got, "[\"x\"]") == 0);
}

static void test_json_reader_errors(void) {
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"{\"a\": 1,}", "t:1:9: expected a string key"},
        {"{\"a\" 1}", "t:1:6: expected ':'"},
        {"[1, 2", "t:1:6: expected ',' or ']'"},
        {"\n  [01]", "t:2:5: expected ',' or ']'"},
        {"[1.]", "t:1:4: digit expected after '.'"},
        {"\"abc", "t:1:5: unterminated string"},
        {"\"a\\x\"", "t:1:3: bad escape '\\x'"},
        {"tru", "t:1:1: unexpected character 't'"},
        {"1 2", "t:1:3: unexpected text after the value"},
        {"", "t:1:1: unexpected end of input"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kiln_json_value *v = NULL;
        char err[KILN_ERRLEN] = "";
        kiln_status st =
            kiln_json_parse(cases[i].text, strlen(cases[i].text), "t", &v, err, sizeof err);
        CHECK(st != KILN_OK && v == NULL);
        CHECK_MSG(strcmp(err, cases[i].msg) == 0, "case %zu: got '%s' want '%s'", i, err,
                  cases[i].msg);
    }
    kiln_json_value *v = NULL;
    char err[KILN_ERRLEN];
    const char *ok = " {\"k\": [true, false, null, -0.5e2, \"\\u00e9\\ud83d\\ude00\"]} ";
    CHECK_EQ_INT(kiln_json_parse(ok, strlen(ok), "t", &v, err, sizeof err), KILN_OK);
    const kiln_json_value *k = kiln_json_get(v, "k");
    CHECK(k && k->len == 5);
    if (k && k->len == 5) {
        CHECK(k->items[0].type == KILN_JSON_BOOL && k->items[0].boolean == 1);
        CHECK(k->items[3].number == -50.0);
        CHECK(strcmp(k->items[4].string, "\xc3\xa9\xf0\x9f\x98\x80") == 0);
    }
    kiln_json_value_free(v);
    /* deep nesting is an error, not a stack overflow */
    char deep[2001];
    memset(deep, '[', 2000);
    deep[2000] = 0;
    v = NULL;
    CHECK(kiln_json_parse(deep, 2000, "t", &v, err, sizeof err) != KILN_OK && !v);
}

int main(void) {
    make_tmpdir();
    test_crc32c();
    test_tfevents();
    test_progress();
    test_json_writer();
    test_json_reader_errors();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_done();
}
