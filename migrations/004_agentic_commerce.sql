-- Reserved for issue 5 (holds, mandates, refunds): tern needs gap-free numbers and several changes are
-- landing at once. Its change replaces this file with the real migration.
SELECT 1;
