-- Reserved for issue 4 (history read model, audit checkpoints): tern needs gap-free numbers and several changes are
-- landing at once. Its change replaces this file with the real migration.
SELECT 1;
