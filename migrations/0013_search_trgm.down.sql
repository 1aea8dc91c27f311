-- The extension stays: it may predate 0013 or serve other objects (an operator's trigram index
-- among them), and dropping it needs the privilege 0013 may have lacked.
SELECT 1;
