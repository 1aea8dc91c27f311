-- A view's filters may nest: a row with operator 'group' joins its children (parent_id) with its
-- conjunction. Leaves stay rows of their own so that column renames and deletions, which rewrite
-- view_filters by column_name, reach filters inside groups too.
ALTER TABLE view_filters
    ADD COLUMN parent_id bigint REFERENCES view_filters (id) ON DELETE CASCADE,
    ADD COLUMN conjunction text CHECK (conjunction IN ('and', 'or'));
ALTER TABLE view_filters DROP CONSTRAINT view_filters_operator_check;
ALTER TABLE view_filters ADD CONSTRAINT view_filters_operator_check CHECK (operator IN (
    'eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'contains', 'startsWith', 'endsWith', 'in', 'notIn', 'between', 'isNull', 'isNotNull',
    'isEmpty', 'isNotEmpty', 'notContains', 'containsAny', 'containsAll', 'isWithin', 'before', 'after', 'onOrBefore', 'onOrAfter',
    'group'));
ALTER TABLE view_filters ADD CONSTRAINT view_filters_group_check CHECK ((operator = 'group') = (conjunction IS NOT NULL));
CREATE INDEX view_filters_parent_idx ON view_filters (parent_id) WHERE parent_id IS NOT NULL;
