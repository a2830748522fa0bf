// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/bus/pci/devices/<bdf>/p2p_pgmap/: what the device offers, how much
 * of it is handed out and to whom. The group is removed only after the
 * pgmap is torn down, so folios_in_use can be watched while remove waits.
 */
#include <linux/pgmap_folio.h>
#include <linux/sysfs.h>
#include <uapi/linux/p2p_pgmap.h>

#include "compat.h"
#include "p2p_pgmap.h"

static const char * const p2p_pgmap_state_names[] = {
	[P2P_PGMAP_STATE_LIVE] = "live",
	[P2P_PGMAP_STATE_DYING] = "dying",
	[P2P_PGMAP_STATE_GONE] = "gone",
};

static struct p2p_pgmap_dev *to_pdm(struct device *dev)
{
	return pci_get_drvdata(to_pci_dev(dev));
}

static ssize_t size_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	struct p2p_pgmap_dev *pdm = to_pdm(dev);

	return sysfs_emit(buf, "%llu\n", pdm ? pdm->size : 0);
}
static DEVICE_ATTR_RO(size);

static ssize_t bar_show(struct device *dev, struct device_attribute *attr,
			char *buf)
{
	struct p2p_pgmap_dev *pdm = to_pdm(dev);

	return pdm ? sysfs_emit(buf, "%d\n", pdm->bar) : -ENODEV;
}
static DEVICE_ATTR_RO(bar);

static ssize_t offset_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	struct p2p_pgmap_dev *pdm = to_pdm(dev);

	return sysfs_emit(buf, "%llu\n", pdm ? pdm->bar_offset : 0);
}
static DEVICE_ATTR_RO(offset);

/* A figure of the device's pool, 0 once the pool is torn down. */
static u64 p2p_pgmap_pool_figure(struct device *dev,
				 u64 (*figure)(const struct pgmap_folio_pool *pool))
{
	struct p2p_pgmap_dev *pdm = to_pdm(dev);
	u64 value = 0;

	if (pdm) {
		down_read(&pdm->lock);
		if (pdm->pool)
			value = figure(pdm->pool);
		up_read(&pdm->lock);
	}
	return value;
}

static ssize_t free_bytes_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  p2p_pgmap_pool_figure(dev, pgmap_folio_pool_free_bytes));
}
static DEVICE_ATTR_RO(free_bytes);

/* Free bytes not zeroed yet: the pool zeroes them in the background. */
static ssize_t dirty_bytes_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  p2p_pgmap_pool_figure(dev, pgmap_folio_pool_dirty_bytes));
}
static DEVICE_ATTR_RO(dirty_bytes);

static u64 p2p_pgmap_folios_in_use(const struct pgmap_folio_pool *pool)
{
	return pgmap_folios_in_use(pool);
}

static ssize_t folios_in_use_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  p2p_pgmap_pool_figure(dev, p2p_pgmap_folios_in_use));
}
static DEVICE_ATTR_RO(folios_in_use);

/*
 * What the device's memory is used for, summed over every owner: one step
 * per folio, under each file's lock, not the device's.
 */
static struct p2p_pgmap_usage p2p_pgmap_usage_of(struct p2p_pgmap_dev *pdm)
{
	struct p2p_pgmap_usage usage = {};

	if (pdm)
		p2p_pgmap_dev_usage(pdm, &usage);
	return usage;
}

static ssize_t mapped_bytes_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", p2p_pgmap_usage_of(to_pdm(dev)).mapped);
}
static DEVICE_ATTR_RO(mapped_bytes);

static ssize_t pinned_only_bytes_show(struct device *dev,
				      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  p2p_pgmap_usage_of(to_pdm(dev)).pinned_only);
}
static DEVICE_ATTR_RO(pinned_only_bytes);

/*
 * One line per open file, or released one whose memory pins still hold.
 * It names processes and commands of every user: root only.
 */
static ssize_t owners_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	struct p2p_pgmap_dev *pdm = to_pdm(dev);

	if (!pdm)
		return -ENODEV;
	return p2p_pgmap_owners_show(pdm, buf);
}
static DEVICE_ATTR_ADMIN_RO(owners);

static ssize_t state_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	struct p2p_pgmap_dev *pdm = to_pdm(dev);

	if (!pdm)
		return -ENODEV;
	return sysfs_emit(buf, "%s\n",
			  p2p_pgmap_state_names[p2p_pgmap_state(pdm)]);
}
static DEVICE_ATTR_RO(state);

static ssize_t p2pdma_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	struct p2p_pgmap_dev *pdm = to_pdm(dev);

	return sysfs_emit(buf, "%d\n", pdm ? pdm->via_p2pdma_core : 0);
}
static DEVICE_ATTR_RO(p2pdma);

/* What remove does to long-term pins (RDMA MRs): see compat.h. */
static ssize_t long_term_pins_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", P2P_PGMAP_LONG_TERM_PINS);
}
static DEVICE_ATTR_RO(long_term_pins);

static struct attribute *p2p_pgmap_attrs[] = {
	&dev_attr_size.attr,
	&dev_attr_bar.attr,
	&dev_attr_offset.attr,
	&dev_attr_free_bytes.attr,
	&dev_attr_dirty_bytes.attr,
	&dev_attr_folios_in_use.attr,
	&dev_attr_mapped_bytes.attr,
	&dev_attr_pinned_only_bytes.attr,
	&dev_attr_owners.attr,
	&dev_attr_state.attr,
	&dev_attr_p2pdma.attr,
	&dev_attr_long_term_pins.attr,
	NULL,
};

const struct attribute_group p2p_pgmap_attr_group = {
	.name = "p2p_pgmap",
	.attrs = p2p_pgmap_attrs,
};
