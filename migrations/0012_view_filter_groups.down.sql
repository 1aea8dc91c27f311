-- Filters the old schema cannot hold are dropped: groups (with their children) and new operators.
DELETE FROM view_filters WHERE operator = 'group' OR parent_id IS NOT NULL;
DELETE FROM view_filters WHERE operator NOT IN ('eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'contains', 'startsWith', 'endsWith', 'in', 'notIn', 'between', 'isNull', 'isNotNull');
DROP INDEX view_filters_parent_idx;
ALTER TABLE view_filters DROP CONSTRAINT view_filters_group_check;
ALTER TABLE view_filters DROP CONSTRAINT view_filters_operator_check;
ALTER TABLE view_filters DROP COLUMN conjunction, DROP COLUMN parent_id;
ALTER TABLE view_filters ADD CONSTRAINT view_filters_operator_check CHECK (operator IN ('eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'contains', 'startsWith', 'endsWith', 'in', 'notIn', 'between', 'isNull', 'isNotNull'));
