package sqlaudit

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	good := []string{
		`SELECT "p"."id" FROM "panels" AS "p" WHERE ("p"."tenant_id" = 't1') AND ("p"."id" = 5)`,
		`SELECT id FROM panels WHERE tenant_id = $1`,
		`SELECT id FROM panels p WHERE p.tenant_id IN ('a', 'b')`,
		`SELECT id FROM panels p WHERE p.tenant_id = ANY('{a,b}')`,
		`SELECT id FROM panels p WHERE 't' = p.tenant_id`,
		`UPDATE "panels" AS "p" SET "name" = 'x' WHERE ("p"."id" = 1) AND ("p"."tenant_id" = 't')`,
		`DELETE FROM "acls" AS "acl" WHERE ("acl"."tenant_id" = 't') AND ("acl"."panel_id" = 3)`,
		`INSERT INTO "panels" ("id", "tenant_id", "name") VALUES (DEFAULT, 't', 'n') RETURNING "id"`,
		`INSERT INTO members (tenant_id, user_id) VALUES ('t', 'u') ON CONFLICT (tenant_id, user_id) DO UPDATE SET email = EXCLUDED.email`,
		// A join to a scoped parent on tenant_id scopes the child.
		`SELECT c.id FROM panels p JOIN columns c ON c.panel_id = p.id AND c.tenant_id = p.tenant_id WHERE p.tenant_id = 't'`,
		// Correlated subquery scoped through the outer alias.
		`SELECT p.id FROM panels p WHERE p.tenant_id = 't' AND EXISTS (SELECT 1 FROM acls a WHERE a.panel_id = p.id AND a.tenant_id = p.tenant_id)`,
		`WITH x AS (SELECT id FROM views v WHERE v.tenant_id = 't') SELECT * FROM x`,
		`SELECT 1 FROM view_sorts WHERE view_id = 3`, // not a tenant table
		`SELECT id FROM panels WHERE tenant_id = 't' UNION ALL SELECT id FROM views WHERE tenant_id = 't'`,
		`SELECT count(*) FROM unnest(ARRAY[1,2]) AS u(x)`,
		`SELECT id FROM panels WHERE tenant_id = 't' FOR UPDATE`,
		`SELECT id FROM panels p WHERE (p.tenant_id = 't') AND (p.id = 5 OR p.id = 6)`,
		`SELECT a OR b FROM panels p WHERE p.tenant_id = 't' ORDER BY x OR y`,
		`SELECT id FROM panels p JOIN views v ON v.tenant_id = p.tenant_id AND (v.a OR v.b) WHERE p.tenant_id = 't' AND (p.x OR p.y)`,
		`BEGIN`, `SAVEPOINT sp1`,
		`SELECT 'FROM panels' AS s`, // inside a string
		`SELECT E'it\'s FROM panels', "p"."id" FROM "panels" AS "p" WHERE "p"."tenant_id" = E'x\'y'`,
	}
	for _, s := range good {
		if v := checkStatement(s); len(v) != 0 {
			t.Errorf("flagged a scoped statement: %v\n  %s", v, s)
		}
	}
	bad := map[string]string{
		`SELECT "p"."id" FROM "panels" AS "p" WHERE ("p"."id" = 5)`: "panels",
		`SELECT id FROM panels`: "panels",
		`UPDATE "views" AS "v" SET "name" = 'x' WHERE ("v"."id" = 1)`:                                 "views",
		`DELETE FROM "acls" AS "acl" WHERE ("acl"."panel_id" = 3)`:                                    "acls",
		`INSERT INTO "panel_changes" ("id", "panel_id") VALUES (DEFAULT, 3)`:                          "panel_changes",
		`SELECT c.id FROM panels p JOIN columns c ON c.panel_id = p.id WHERE p.tenant_id = 't'`:       "columns",
		`SELECT id FROM panels p WHERE p.tenant_id IS NOT NULL`:                                       "panels",
		`SELECT id FROM panels p WHERE p.tenant_id = p.owner_user_id`:                                 "panels",
		`SELECT p.id FROM panels p, views v WHERE v.tenant_id = 't'`:                                  "panels",
		`SELECT p.id FROM panels p WHERE p.tenant_id = 't' AND p.id IN (SELECT panel_id FROM acls a)`: "acls",
		`SELECT id FROM panels WHERE tenant_id = 't' UNION ALL SELECT id FROM views WHERE id = 3`:     "views",
		`WITH x AS (SELECT id FROM views v WHERE v.id = 3) SELECT * FROM x`:                           "views",
		`SELECT * FROM members m JOIN panels p ON p.tenant_id = m.tenant_id`:                          "members",
		`SELECT id FROM panels p WHERE p.name = 'tenant_id = 1'`:                                      "panels",
		`-- tenant_id = 't'
SELECT id FROM source_syncs`: "source_syncs",
		`SELECT id FROM public.idempotency_keys k WHERE k.key = 'x'`:                                            "idempotency_keys",
		`SELECT id FROM panels p WHERE p.tenant_id = 't' OR p.id = 5`:                                           "panels",
		`SELECT id FROM panels p WHERE (p.id = 5) OR ((p.tenant_id = 't') AND p.x)`:                             "panels",
		`SELECT id FROM panels p JOIN views v ON v.tenant_id = p.tenant_id OR v.id = 1 WHERE p.tenant_id = 't'`: "views",
		`UPDATE record_sets SET n = 1 FROM data_sources d WHERE d.tenant_id = 't'`:                              "record_sets",
	}
	for s, table := range bad {
		vs := checkStatement(s)
		found := false
		for _, v := range vs {
			found = found || v.Table == table
		}
		if !found {
			t.Errorf("did not flag %s: %v\n  %s", table, vs, s)
		}
	}
}

func TestNormalize(t *testing.T) {
	a := normalize(`SELECT * FROM panels WHERE tenant_id = 'a' AND id = 12`)
	b := normalize("SELECT *\n FROM panels WHERE tenant_id = 'bb''c' AND id = 7")
	if a != b || strings.Contains(a, "'") {
		t.Errorf("%q != %q", a, b)
	}
}
