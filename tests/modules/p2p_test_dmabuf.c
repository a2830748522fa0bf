// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_test_dmabuf - test-only module: a dma-buf importer driven from user
 * space (uapi: p2p_test_dmabuf.h).
 *
 * No NIC of the test machine imports dma-bufs (rxe has no dma-buf MRs), so
 * this module plays the importing driver: it attaches to a dma-buf on
 * behalf of a real PCI device of the machine, in one of the ways the RDMA
 * drivers do (dynamic as mlx5, pinned and revocable as irdma, pinned and
 * not revocable as efa; or static, without peer-to-peer), maps it for that
 * device and reports the DMA addresses the exporter gave. When the
 * exporter invalidates, a revocable attachment unmaps (and unpins) at
 * once, as those drivers do, and counts it. Closing the file undoes
 * everything.
 */
#include <linux/dma-buf.h>
#include <linux/dma-resv.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>

#include "p2p_test_dmabuf.h"

/* A string from 6.13 on (see Kbuild). */
#ifdef HAVE_IMPORT_NS_STRING
MODULE_IMPORT_NS("DMA_BUF");
#else
MODULE_IMPORT_NS(DMA_BUF);
#endif

/* At most this many DMA segments are reported per map. */
#define P2P_TEST_DMABUF_MAX_SEGS	4096

/**
 * struct p2p_test_att - one attachment
 * @dmabuf: the dma-buf, referenced
 * @attach: its attachment
 * @dev: the device it is for, referenced
 * @mode: P2P_TEST_DMABUF_*
 * @sgt: the mapping, under the reservation lock
 * @dir: its direction
 * @pinned: holds a pin, under the reservation lock
 * @invalidations: times the exporter said stop
 */
struct p2p_test_att {
	struct dma_buf *dmabuf;
	struct dma_buf_attachment *attach;
	struct device *dev;
	u32 mode;
	struct sg_table *sgt;
	enum dma_data_direction dir;
	bool pinned;
	atomic_t invalidations;
};

struct p2p_test_file {
	struct mutex lock;	/* one ioctl at a time */
	struct xarray atts;	/* id -> struct p2p_test_att */
};

/* Unmap and unpin. Under the reservation lock. */
static void p2p_test_att_stop(struct p2p_test_att *att)
{
	dma_resv_assert_held(att->dmabuf->resv);
	if (att->sgt) {
		dma_buf_unmap_attachment(att->attach, att->sgt, att->dir);
		att->sgt = NULL;
	}
	if (att->pinned) {
		dma_buf_unpin(att->attach);
		att->pinned = false;
	}
}

/* Revocable: stop at once, as a NIC driver would before returning. */
static void p2p_test_invalidate(struct dma_buf_attachment *attach)
{
	struct p2p_test_att *att = attach->importer_priv;

	atomic_inc(&att->invalidations);
	p2p_test_att_stop(att);
}

#ifdef HAVE_DMA_BUF_INVALIDATE
#define P2P_TEST_NOTIFY(fn)	.invalidate_mappings = (fn)
#define P2P_TEST_PINNED_NOTIFY	/* none: dma_buf_attach_revocable() is false */
#else
/* Not revocable: told, and goes on (what a pinned importer can do). */
static void p2p_test_ignore(struct dma_buf_attachment *attach)
{
	struct p2p_test_att *att = attach->importer_priv;

	atomic_inc(&att->invalidations);
}

#define P2P_TEST_NOTIFY(fn)	.move_notify = (fn)
/* The core wants a move_notify of every dynamic importer before 7.0. */
#define P2P_TEST_PINNED_NOTIFY	.move_notify = p2p_test_ignore
#endif

static const struct dma_buf_attach_ops p2p_test_ops[] = {
	[P2P_TEST_DMABUF_DYNAMIC] = {
		.allow_peer2peer = true,
		P2P_TEST_NOTIFY(p2p_test_invalidate),
	},
	[P2P_TEST_DMABUF_PINNED_REVOCABLE] = {
		.allow_peer2peer = true,
		P2P_TEST_NOTIFY(p2p_test_invalidate),
	},
	[P2P_TEST_DMABUF_PINNED] = {
		.allow_peer2peer = true,
		P2P_TEST_PINNED_NOTIFY
	},
};

static void p2p_test_att_free(struct p2p_test_att *att)
{
	dma_resv_lock(att->dmabuf->resv, NULL);
	p2p_test_att_stop(att);
	dma_resv_unlock(att->dmabuf->resv);
	dma_buf_detach(att->dmabuf, att->attach);
	dma_buf_put(att->dmabuf);
	put_device(att->dev);
	kfree(att);
}

static long p2p_test_attach(struct p2p_test_file *tf, void __user *arg)
{
	struct p2p_test_att *att = kzalloc(sizeof(*att), GFP_KERNEL);
	struct p2p_test_dmabuf_attach req;
	int err;

	if (!att)
		return -ENOMEM;
	err = -EFAULT;
	if (copy_from_user(&req, arg, sizeof(req)))
		goto out_free;
	err = -EINVAL;
	if (req.mode > P2P_TEST_DMABUF_STATIC)
		goto out_free;
	req.device[sizeof(req.device) - 1] = 0;

	att->mode = req.mode;
	atomic_set(&att->invalidations, 0);
	att->dev = bus_find_device_by_name(&pci_bus_type, NULL, req.device);
	if (!att->dev) {
		err = -ENODEV;
		goto out_free;
	}
	att->dmabuf = dma_buf_get(req.fd);
	if (IS_ERR(att->dmabuf)) {
		err = PTR_ERR(att->dmabuf);
		goto out_dev;
	}
	if (req.mode == P2P_TEST_DMABUF_STATIC)
		att->attach = dma_buf_attach(att->dmabuf, att->dev);
	else
		att->attach = dma_buf_dynamic_attach(att->dmabuf, att->dev,
						     &p2p_test_ops[req.mode], att);
	if (IS_ERR(att->attach)) {
		err = PTR_ERR(att->attach);
		goto out_put;
	}
	if (req.mode == P2P_TEST_DMABUF_PINNED_REVOCABLE ||
	    req.mode == P2P_TEST_DMABUF_PINNED) {
		dma_resv_lock(att->dmabuf->resv, NULL);
		err = dma_buf_pin(att->attach);
		att->pinned = !err;
		dma_resv_unlock(att->dmabuf->resv);
		if (err)
			goto out_detach;
	}
	err = xa_alloc(&tf->atts, &req.id, att, xa_limit_31b, GFP_KERNEL);
	if (err)
		goto out_unpin;
	if (copy_to_user(arg, &req, sizeof(req))) {
		xa_erase(&tf->atts, req.id);
		p2p_test_att_free(att);
		return -EFAULT;
	}
	return 0;

out_unpin:
	if (att->pinned) {
		dma_resv_lock(att->dmabuf->resv, NULL);
		dma_buf_unpin(att->attach);
		dma_resv_unlock(att->dmabuf->resv);
	}
out_detach:
	dma_buf_detach(att->dmabuf, att->attach);
out_put:
	dma_buf_put(att->dmabuf);
out_dev:
	put_device(att->dev);
out_free:
	kfree(att);
	return err;
}

static const enum dma_data_direction p2p_test_dirs[] = {
	[P2P_TEST_DMABUF_BIDIRECTIONAL] = DMA_BIDIRECTIONAL,
	[P2P_TEST_DMABUF_TO_DEVICE] = DMA_TO_DEVICE,
	[P2P_TEST_DMABUF_FROM_DEVICE] = DMA_FROM_DEVICE,
};

static long p2p_test_map(struct p2p_test_file *tf, void __user *arg)
{
	struct p2p_test_dmabuf_map req;
	struct p2p_test_att *att;
	struct scatterlist *sg;
	struct sg_table *sgt;
	u32 room, nr = 0;
	u64 *segs, len = 0;
	int err = 0, i;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.dir >= ARRAY_SIZE(p2p_test_dirs))
		return -EINVAL;
	att = xa_load(&tf->atts, req.id);
	if (!att)
		return -ENOENT;
	room = min_t(u32, req.room, P2P_TEST_DMABUF_MAX_SEGS);
	segs = kvcalloc(max_t(u32, room, 1), 2 * sizeof(u64), GFP_KERNEL);
	if (!segs)
		return -ENOMEM;

	dma_resv_lock(att->dmabuf->resv, NULL);
	if (att->sgt) {
		err = -EBUSY;
		goto out_unlock;
	}
	sgt = dma_buf_map_attachment(att->attach, p2p_test_dirs[req.dir]);
	if (IS_ERR(sgt)) {
		err = PTR_ERR(sgt);
		goto out_unlock;
	}
	att->sgt = sgt;
	att->dir = p2p_test_dirs[req.dir];
	/* Read under the lock: an invalidate unmaps it. */
	for_each_sgtable_dma_sg(sgt, sg, i) {
		if (nr < room) {
			segs[2 * nr] = sg_dma_address(sg);
			segs[2 * nr + 1] = sg_dma_len(sg);
		}
		nr++;
		len += sg_dma_len(sg);
	}
out_unlock:
	dma_resv_unlock(att->dmabuf->resv);
	if (!err) {
		req.nr = nr;
		req.len = len;
		if (copy_to_user(u64_to_user_ptr(req.segs), segs,
				 min(nr, room) * 2 * sizeof(u64)) ||
		    copy_to_user(arg, &req, sizeof(req)))
			err = -EFAULT;
	}
	kvfree(segs);
	return err;
}

static long p2p_test_ioctl_locked(struct p2p_test_file *tf, unsigned int cmd,
				  unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	struct p2p_test_dmabuf_status st;
	struct p2p_test_att *att;
	u32 id;

	switch (cmd) {
	case P2P_TEST_DMABUF_IOC_ATTACH:
		return p2p_test_attach(tf, uarg);
	case P2P_TEST_DMABUF_IOC_MAP:
		return p2p_test_map(tf, uarg);
	case P2P_TEST_DMABUF_IOC_UNMAP:
		if (get_user(id, (u32 __user *)uarg))
			return -EFAULT;
		att = xa_load(&tf->atts, id);
		if (!att)
			return -ENOENT;
		dma_resv_lock(att->dmabuf->resv, NULL);
		if (att->sgt) {
			dma_buf_unmap_attachment(att->attach, att->sgt, att->dir);
			att->sgt = NULL;
		}
		dma_resv_unlock(att->dmabuf->resv);
		return 0;
	case P2P_TEST_DMABUF_IOC_DETACH:
		if (get_user(id, (u32 __user *)uarg))
			return -EFAULT;
		att = xa_erase(&tf->atts, id);
		if (!att)
			return -ENOENT;
		p2p_test_att_free(att);
		return 0;
	case P2P_TEST_DMABUF_IOC_STATUS:
		if (copy_from_user(&st, uarg, sizeof(st)))
			return -EFAULT;
		att = xa_load(&tf->atts, st.id);
		if (!att)
			return -ENOENT;
		dma_resv_lock(att->dmabuf->resv, NULL);
		st.mapped = !!att->sgt;
		st.pinned = att->pinned;
		dma_resv_unlock(att->dmabuf->resv);
		st.invalidations = atomic_read(&att->invalidations);
		return copy_to_user(uarg, &st, sizeof(st)) ? -EFAULT : 0;
	}
	return -ENOTTY;
}

static long p2p_test_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg)
{
	struct p2p_test_file *tf = file->private_data;
	long ret;

	mutex_lock(&tf->lock);
	ret = p2p_test_ioctl_locked(tf, cmd, arg);
	mutex_unlock(&tf->lock);
	return ret;
}

static int p2p_test_open(struct inode *inode, struct file *file)
{
	struct p2p_test_file *tf = kzalloc(sizeof(*tf), GFP_KERNEL);

	if (!tf)
		return -ENOMEM;
	mutex_init(&tf->lock);
	xa_init_flags(&tf->atts, XA_FLAGS_ALLOC);
	file->private_data = tf;
	return 0;
}

/* The ioctls of one file are not called concurrently with its release. */
static int p2p_test_release(struct inode *inode, struct file *file)
{
	struct p2p_test_file *tf = file->private_data;
	struct p2p_test_att *att;
	unsigned long id;

	xa_for_each(&tf->atts, id, att)
		p2p_test_att_free(att);
	xa_destroy(&tf->atts);
	kfree(tf);
	return 0;
}

static const struct file_operations p2p_test_fops = {
	.owner = THIS_MODULE,
	.open = p2p_test_open,
	.release = p2p_test_release,
	.unlocked_ioctl = p2p_test_ioctl,
};

static struct miscdevice p2p_test_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "p2p_test_dmabuf",
	.fops = &p2p_test_fops,
	.mode = 0600,
};

module_misc_device(p2p_test_misc);

MODULE_DESCRIPTION("Test-only dma-buf importer for p2p_pgmap tests");
MODULE_LICENSE("GPL");
