// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_rig_warn - test-only module that provokes one kernel WARNING on load.
 *
 * The VM runner must fail any run whose guest kernel log shows a splat;
 * tests/rig loads this module to prove that it does. Nothing else should
 * ever load it.
 */
#include <linux/bug.h>
#include <linux/module.h>

static int __init p2p_rig_warn_init(void)
{
	WARN(1, "p2p_rig_warn: deliberate warning for the test rig\n");
	return 0;
}

static void __exit p2p_rig_warn_exit(void)
{
}

module_init(p2p_rig_warn_init);
module_exit(p2p_rig_warn_exit);

MODULE_DESCRIPTION("Test-only module: provokes a WARNING to test splat detection");
MODULE_LICENSE("GPL");
