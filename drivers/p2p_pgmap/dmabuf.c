// SPDX-License-Identifier: GPL-2.0
/*
 * dma-buf export of a file's device memory (P2P_PGMAP_IOC_EXPORT).
 *
 * A dma-buf is how a driver registers another device's memory for DMA
 * (ibv_reg_dmabuf_mr() on any RDMA NIC that imports, GPUs, accelerators),
 * without pinning user pages: on a stock P2PDMA kernel the only way for a
 * NIC without ODP to register this memory.
 *
 * The export holds a reference on every folio of the range (taken, zeroed,
 * where the file had no memory yet), so its memory lives with the dma-buf:
 * after the file is closed or the range punched out, until the last fd and
 * the last importer let go. It is in no other file's map, so no other file
 * reaches it; once freed, the pool zeroes it before anyone gets it again.
 *
 * Importers get no struct pages (the memory is MMIO) and must be revocable,
 * as vfio-pci's exporter demands: a dynamic importer, told through
 * ->invalidate_mappings() (->move_notify() before 7.0) to stop and unmap,
 * or a pinned one that can be revoked the same way (irdma). At remove,
 * before anything waits on the pgmap's counter, every export is revoked:
 * marked so under its reservation lock (maps fail with -ENODEV from then
 * on), its importers told, their fences waited for, then every mapping
 * waited for until unmapped, and the folios let go of. A process that
 * keeps the dma-buf open keeps a husk: remove never waits for it.
 *
 * Mapping: with the helpers of 6.19 and the P2PDMA core, the BAR runs of
 * the range go to dma_buf_phys_vec_to_sgt() with the BAR's provider (bus
 * addresses under a shared switch, through the host bridge or IOMMU where
 * the P2PDMA rules allow it). Elsewhere the folios' pages are mapped for
 * the importer's device with dma_map_sgtable(); there a pinned importer
 * cannot be revoked and its mappings are refused.
 *
 * Locking: the reservation lock covers ->revoked and the mapping count;
 * the device's dmabufs_lock its list of exports, and is taken before a
 * reservation lock, never under one.
 */
#include <linux/dma-buf.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/file.h>
#include <linux/kref.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <uapi/linux/p2p_pgmap.h>

#include "compat.h"
#include "p2p_pgmap.h"

#ifdef P2P_PGMAP_DMABUF_VIA_PROVIDER
#include <linux/dma-buf-mapping.h>
#endif

P2P_COMPAT_IMPORT_DMA_BUF;

#define P2P_PGMAP_EXPORT_FLAGS	(P2P_PGMAP_EXPORT_READ | P2P_PGMAP_EXPORT_WRITE | \
				 P2P_PGMAP_EXPORT_NO_CLOEXEC)

/* While remove waits for importers to unmap, say so this often. */
#define P2P_PGMAP_UNMAP_REPORT	(10 * HZ)

/**
 * struct p2p_pgmap_dmabuf - one exported range
 * @pdm: the device; a reference on its struct device is held
 * @dmabuf: the dma-buf
 * @node: in the device's dmabufs list
 * @pieces: the range's folios, each with a reference of the export's,
 *	until @let_go
 * @nr_pieces: how many
 * @runs: the range's runs of contiguous physical memory, in order
 * @nr_runs: how many
 * @size: bytes
 * @flags: P2P_PGMAP_EXPORT_* of the export
 * @maps: one for the export, plus one per mapping of an importer's
 * @unmapped: completed when @maps drops to 0 (after a revoke)
 * @revoked: the device is going away: no new attachments or mappings;
 *	under the reservation lock
 * @let_go: the folio references are dropped; under the device's
 *	dmabufs_lock
 * @tgid: the process that exported, for messages
 * @comm: its name
 */
struct p2p_pgmap_dmabuf {
	struct p2p_pgmap_dev *pdm;
	struct dma_buf *dmabuf;
	struct list_head node;
	struct p2p_pgmap_piece *pieces;
	unsigned long nr_pieces;
	struct phys_vec *runs;
	unsigned long nr_runs;
	u64 size;
	u32 flags;
	struct kref maps;
	struct completion unmapped;
	bool revoked;
	bool let_go;
	pid_t tgid;
	char comm[TASK_COMM_LEN];
};

#ifndef P2P_PGMAP_HAVE_DMA_BUF_INVALIDATE
/**
 * struct p2p_pgmap_dmabuf_attach - what the exporter counts per attachment
 * @pins: ->pin() calls not undone yet
 * @maps: mappings not unmapped yet
 *
 * Before 7.0 the core pins for every map of a dynamic importer (without
 * CONFIG_DMABUF_MOVE_NOTIFY); a pin beyond those is the importer's own,
 * which ->move_notify() cannot undo.
 */
struct p2p_pgmap_dmabuf_attach {
	unsigned int pins;
	unsigned int maps;
};
#endif

static void p2p_pgmap_dmabuf_unmapped(struct kref *kref)
{
	struct p2p_pgmap_dmabuf *d = container_of(kref, struct p2p_pgmap_dmabuf,
						  maps);

	complete(&d->unmapped);
}

/* Drop the folio references, once. Under the device's dmabufs_lock. */
static void p2p_pgmap_dmabuf_let_go(struct p2p_pgmap_dmabuf *d)
{
	unsigned long i;

	lockdep_assert_held(&d->pdm->dmabufs_lock);
	if (d->let_go)
		return;
	d->let_go = true;
	for (i = 0; i < d->nr_pieces; i++) {
		folio_put(d->pieces[i].folio);
		if (i % 1024 == 1023)
			cond_resched();
	}
}

/*
 * With the P2PDMA core: can @dev reach the BAR by peer-to-peer DMA (under a
 * shared switch, or through a host bridge the core allows)?
 */
static int p2p_pgmap_dmabuf_reach(struct p2p_pgmap_dmabuf *d,
				  struct device *dev)
{
#if IS_ENABLED(CONFIG_PCI_P2PDMA)
	struct p2p_pgmap_dev *pdm = d->pdm;

	if (pci_p2pdma_distance_many(pdm->pdev, &dev, 1, false) < 0) {
		dev_info_ratelimited(&pdm->dev, "dma-buf of %s[%d]: %s cannot reach %s by peer-to-peer DMA (no shared switch or allowed host bridge): attach refused\n",
				     d->comm, d->tgid, dev_name(dev),
				     pci_name(pdm->pdev));
		return -EXDEV;
	}
#endif
	return 0;
}

static int p2p_pgmap_dmabuf_attach(struct dma_buf *dmabuf,
				   struct dma_buf_attachment *attach)
{
	struct p2p_pgmap_dmabuf *d = dmabuf->priv;
	int err;

	if (!attach->peer2peer) {
		dev_info_ratelimited(&d->pdm->dev, "dma-buf of %s[%d]: importer %s does not take peer-to-peer memory: attach refused\n",
				     d->comm, d->tgid, dev_name(attach->dev));
		return -EOPNOTSUPP;
	}
	if (READ_ONCE(d->revoked))
		return -ENODEV;
	if (!p2p_compat_dma_buf_revocable(attach)) {
		dev_info_ratelimited(&d->pdm->dev, "dma-buf of %s[%d]: importer %s cannot be revoked: attach refused\n",
				     d->comm, d->tgid, dev_name(attach->dev));
		return -EOPNOTSUPP;
	}
	err = p2p_pgmap_dmabuf_reach(d, attach->dev);
	if (err)
		return err;
#ifndef P2P_PGMAP_HAVE_DMA_BUF_INVALIDATE
	attach->priv = kzalloc_obj(struct p2p_pgmap_dmabuf_attach, GFP_KERNEL);
	if (!attach->priv)
		return -ENOMEM;
#endif
	return 0;
}

static void p2p_pgmap_dmabuf_detach(struct dma_buf *dmabuf,
				    struct dma_buf_attachment *attach)
{
#ifndef P2P_PGMAP_HAVE_DMA_BUF_INVALIDATE
	kfree(attach->priv);
	attach->priv = NULL;
#endif
}

/* May the importer move data in @dir, as the export allows? */
static bool p2p_pgmap_dmabuf_dir_allowed(struct p2p_pgmap_dmabuf *d,
					 enum dma_data_direction dir)
{
	switch (dir) {
	case DMA_TO_DEVICE:		/* the importer reads the memory */
		return d->flags & P2P_PGMAP_EXPORT_READ;
	case DMA_FROM_DEVICE:		/* the importer writes it */
		return d->flags & P2P_PGMAP_EXPORT_WRITE;
	case DMA_BIDIRECTIONAL:
		return (d->flags & P2P_PGMAP_EXPORT_READ) &&
		       (d->flags & P2P_PGMAP_EXPORT_WRITE);
	default:
		return false;
	}
}

#ifdef P2P_PGMAP_DMABUF_VIA_PROVIDER
static struct sg_table *p2p_pgmap_dmabuf_sgt(struct p2p_pgmap_dmabuf *d,
					     struct dma_buf_attachment *attach,
					     enum dma_data_direction dir)
{
	struct p2pdma_provider *provider;

	/* Set up by the P2PDMA core when it took the BAR (probe). */
	provider = pcim_p2pdma_provider(d->pdm->pdev, d->pdm->bar);
	if (!provider)
		return ERR_PTR(-ENODEV);
	return dma_buf_phys_vec_to_sgt(attach, provider, d->runs, d->nr_runs,
				       d->size, dir);
}

static void p2p_pgmap_dmabuf_free_sgt(struct dma_buf_attachment *attach,
				      struct sg_table *sgt,
				      enum dma_data_direction dir)
{
	dma_buf_free_sgt(attach, sgt, dir);
}
#else
/* Entries of at most this many bytes: sg lengths are 32 bits. */
#define P2P_PGMAP_SG_MAX	SZ_1G

/*
 * The folios' pages, a run at a time, mapped for the importer's device as
 * any device's pages would be (through its IOMMU if it has one; with the
 * P2PDMA core, by its rules). No CPU sync: the memory is uncached MMIO.
 */
static struct sg_table *p2p_pgmap_dmabuf_sgt(struct p2p_pgmap_dmabuf *d,
					     struct dma_buf_attachment *attach,
					     enum dma_data_direction dir)
{
	struct scatterlist *sg;
	struct sg_table *sgt;
	unsigned long i, nents = 0;
	int err;

	for (i = 0; i < d->nr_runs; i++)
		nents += DIV_ROUND_UP(d->runs[i].len, P2P_PGMAP_SG_MAX);
	sgt = kzalloc_obj(*sgt, GFP_KERNEL);
	if (!sgt)
		return ERR_PTR(-ENOMEM);
	err = sg_alloc_table(sgt, nents, GFP_KERNEL);
	if (err)
		goto out_free;
	sg = sgt->sgl;
	for (i = 0; i < d->nr_runs; i++) {
		phys_addr_t paddr = d->runs[i].paddr;
		u64 left = d->runs[i].len;

		while (left) {
			u32 len = min_t(u64, left, P2P_PGMAP_SG_MAX);

			sg_set_page(sg, pfn_to_page(PHYS_PFN(paddr)), len, 0);
			sg = sg_next(sg);
			paddr += len;
			left -= len;
		}
	}
	err = dma_map_sgtable(attach->dev, sgt, dir, DMA_ATTR_SKIP_CPU_SYNC);
	if (err)
		goto out_table;
	return sgt;

out_table:
	sg_free_table(sgt);
out_free:
	kfree(sgt);
	return ERR_PTR(err);
}

static void p2p_pgmap_dmabuf_free_sgt(struct dma_buf_attachment *attach,
				      struct sg_table *sgt,
				      enum dma_data_direction dir)
{
	dma_unmap_sgtable(attach->dev, sgt, dir, DMA_ATTR_SKIP_CPU_SYNC);
	sg_free_table(sgt);
	kfree(sgt);
}
#endif

static struct sg_table *p2p_pgmap_dmabuf_map(struct dma_buf_attachment *attach,
					     enum dma_data_direction dir)
{
	struct p2p_pgmap_dmabuf *d = attach->dmabuf->priv;
	struct sg_table *sgt;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (d->revoked)
		return ERR_PTR(-ENODEV);
	if (!p2p_pgmap_dmabuf_dir_allowed(d, dir))
		return ERR_PTR(-EACCES);
#ifndef P2P_PGMAP_HAVE_DMA_BUF_INVALIDATE
	{
		struct p2p_pgmap_dmabuf_attach *a = attach->priv;

		if (a->pins > a->maps + P2P_COMPAT_DMA_BUF_PINS_PER_MAP) {
			dev_info_ratelimited(&d->pdm->dev, "dma-buf of %s[%d]: importer %s pinned it, and a pin cannot be revoked on this kernel: map refused\n",
					     d->comm, d->tgid, dev_name(attach->dev));
			return ERR_PTR(-EOPNOTSUPP);
		}
	}
#endif
	sgt = p2p_pgmap_dmabuf_sgt(d, attach, dir);
	if (IS_ERR(sgt))
		return sgt;
	kref_get(&d->maps);
#ifndef P2P_PGMAP_HAVE_DMA_BUF_INVALIDATE
	((struct p2p_pgmap_dmabuf_attach *)attach->priv)->maps++;
#endif
	return sgt;
}

static void p2p_pgmap_dmabuf_unmap(struct dma_buf_attachment *attach,
				   struct sg_table *sgt,
				   enum dma_data_direction dir)
{
	struct p2p_pgmap_dmabuf *d = attach->dmabuf->priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	p2p_pgmap_dmabuf_free_sgt(attach, sgt, dir);
#ifndef P2P_PGMAP_HAVE_DMA_BUF_INVALIDATE
	((struct p2p_pgmap_dmabuf_attach *)attach->priv)->maps--;
#endif
	kref_put(&d->maps, p2p_pgmap_dmabuf_unmapped);
}

#ifndef P2P_PGMAP_HAVE_DMA_BUF_INVALIDATE
/*
 * A dynamic exporter, so that the core maps each time it is asked (rather
 * than once at attach, for good) and tells importers to unmap.
 */
static int p2p_pgmap_dmabuf_pin(struct dma_buf_attachment *attach)
{
	struct p2p_pgmap_dmabuf *d = attach->dmabuf->priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (d->revoked)
		return -ENODEV;
	((struct p2p_pgmap_dmabuf_attach *)attach->priv)->pins++;
	return 0;
}

static void p2p_pgmap_dmabuf_unpin(struct dma_buf_attachment *attach)
{
	dma_resv_assert_held(attach->dmabuf->resv);
	((struct p2p_pgmap_dmabuf_attach *)attach->priv)->pins--;
}
#endif

static void p2p_pgmap_dmabuf_release(struct dma_buf *dmabuf)
{
	struct p2p_pgmap_dmabuf *d = dmabuf->priv;
	struct p2p_pgmap_dev *pdm = d->pdm;

	mutex_lock(&pdm->dmabufs_lock);
	list_del(&d->node);
	p2p_pgmap_dmabuf_let_go(d);
	mutex_unlock(&pdm->dmabufs_lock);
	kvfree(d->runs);
	kvfree(d->pieces);
	kfree(d);
	put_device(&pdm->dev);
}

static const struct dma_buf_ops p2p_pgmap_dmabuf_ops = {
	.attach = p2p_pgmap_dmabuf_attach,
	.detach = p2p_pgmap_dmabuf_detach,
#ifndef P2P_PGMAP_HAVE_DMA_BUF_INVALIDATE
	.pin = p2p_pgmap_dmabuf_pin,
	.unpin = p2p_pgmap_dmabuf_unpin,
#endif
	.map_dma_buf = p2p_pgmap_dmabuf_map,
	.unmap_dma_buf = p2p_pgmap_dmabuf_unmap,
	.release = p2p_pgmap_dmabuf_release,
};

/* The runs of physical memory behind the pieces, merged where contiguous. */
static int p2p_pgmap_dmabuf_runs(struct p2p_pgmap_dmabuf *d)
{
	struct phys_vec *runs, *last = NULL;
	unsigned long i, nr = 0;

	runs = kvmalloc_array(d->nr_pieces, sizeof(*runs), GFP_KERNEL);
	if (!runs)
		return -ENOMEM;
	for (i = 0; i < d->nr_pieces; i++) {
		struct p2p_pgmap_piece *p = &d->pieces[i];
		phys_addr_t paddr = PFN_PHYS(folio_pfn(p->folio) + p->first);
		size_t len = (size_t)p->nr << PAGE_SHIFT;

		if (last && last->paddr + last->len == paddr) {
			last->len += len;
			continue;
		}
		last = &runs[nr++];
		last->paddr = paddr;
		last->len = len;
	}
	d->runs = runs;
	d->nr_runs = nr;
	return 0;
}

/* Why an export's argument is refused, once per burst. */
static int p2p_pgmap_dmabuf_check(struct p2p_pgmap_dev *pdm,
				  const struct p2p_pgmap_export *ex)
{
	unsigned long limit = READ_ONCE(p2p_pgmap_file_limit);
	const char *why = NULL;
	int err = -EINVAL;

	if (ex->flags & ~P2P_PGMAP_EXPORT_FLAGS) {
		why = "unknown flags";
	} else if (!(ex->flags & (P2P_PGMAP_EXPORT_READ | P2P_PGMAP_EXPORT_WRITE))) {
		why = "neither read nor write allowed";
	} else if (!ex->len || !PAGE_ALIGNED(ex->offset) || !PAGE_ALIGNED(ex->len)) {
		why = "empty or not page aligned";
	} else if (ex->offset >= pdm->size || ex->len > pdm->size - ex->offset) {
		why = "past the size of device memory";
	} else if (limit && ex->len > round_down(limit, PAGE_SIZE)) {
		why = "more than one file may hold (file_limit)";
		err = -EDQUOT;
	}
	if (!why)
		return 0;
	dev_info_ratelimited(&pdm->dev, "%s[%d]: export of %#llx bytes at offset %#llx refused: %s\n",
			     current->comm, task_tgid_nr(current), ex->len,
			     ex->offset, why);
	return err;
}

/**
 * p2p_pgmap_dmabuf_export - P2P_PGMAP_IOC_EXPORT: a range of a file as a
 * dma-buf
 * @owner: the file's owner
 * @arg: the user's struct p2p_pgmap_export
 *
 * Context: process context; takes the device's lock for reading, the
 * file's lock and the device's dmabufs_lock, one after the other.
 * Return: 0 with the dma-buf's fd in the argument, -EFAULT, -EINVAL for a
 * bad range or flags, -EDQUOT past file_limit, -ENOSPC when the device
 * has no free memory, -ENXIO once it is going away, -ENOMEM, -EMFILE.
 */
int p2p_pgmap_dmabuf_export(struct p2p_pgmap_owner *owner, void __user *arg)
{
	struct p2p_pgmap_dev *pdm = owner->pdm;
	DEFINE_DMA_BUF_EXPORT_INFO(exp_info);
	struct p2p_pgmap_export ex;
	struct p2p_pgmap_dmabuf *d;
	struct dma_buf *dmabuf;
	long nr;
	int err, fd;

	if (copy_from_user(&ex, arg, sizeof(ex)))
		return -EFAULT;
	err = p2p_pgmap_dmabuf_check(pdm, &ex);
	if (err)
		return err;

	d = kzalloc_obj(*d, GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	d->pdm = pdm;
	d->size = ex.len;
	d->flags = ex.flags;
	d->tgid = task_tgid_nr(current);
	get_task_comm(d->comm, current);
	INIT_LIST_HEAD(&d->node);
	kref_init(&d->maps);
	init_completion(&d->unmapped);

	nr = p2p_pgmap_owner_hold(owner, ex.offset, ex.len, &d->pieces);
	if (nr < 0) {
		kfree(d);
		return nr;
	}
	d->nr_pieces = nr;
	err = p2p_pgmap_dmabuf_runs(d);
	if (err)
		goto out_pieces;

	exp_info.ops = &p2p_pgmap_dmabuf_ops;
	exp_info.size = ex.len;
	exp_info.flags = (ex.flags & P2P_PGMAP_EXPORT_WRITE) ? O_RDWR : O_RDONLY;
	exp_info.priv = d;
	dmabuf = dma_buf_export(&exp_info);
	if (IS_ERR(dmabuf)) {
		err = PTR_ERR(dmabuf);
		goto out_runs;
	}
	d->dmabuf = dmabuf;
	/* From here on, the dma-buf's release frees @d. */
	get_device(&pdm->dev);

	/*
	 * Remove sets dying before it revokes the exports on the list: either
	 * it finds this one there, or this one sees dying.
	 */
	mutex_lock(&pdm->dmabufs_lock);
	if (READ_ONCE(pdm->dying)) {
		mutex_unlock(&pdm->dmabufs_lock);
		dma_buf_put(dmabuf);
		return -ENXIO;
	}
	list_add_tail(&d->node, &pdm->dmabufs);
	mutex_unlock(&pdm->dmabufs_lock);

	fd = get_unused_fd_flags((ex.flags & P2P_PGMAP_EXPORT_NO_CLOEXEC) ?
				 0 : O_CLOEXEC);
	if (fd < 0) {
		dma_buf_put(dmabuf);
		return fd;
	}
	ex.fd = fd;
	if (copy_to_user(arg, &ex, sizeof(ex))) {
		put_unused_fd(fd);
		dma_buf_put(dmabuf);
		return -EFAULT;
	}
	/* The fd takes the dma-buf's reference. */
	fd_install(fd, dmabuf->file);
	return 0;

out_runs:
	kvfree(d->runs);
out_pieces:
	while (d->nr_pieces)
		folio_put(d->pieces[--d->nr_pieces].folio);
	kvfree(d->pieces);
	kfree(d);
	return err;
}

/* Wait until every mapping of a revoked export is unmapped. */
static void p2p_pgmap_dmabuf_wait_unmapped(struct p2p_pgmap_dmabuf *d)
{
	kref_put(&d->maps, p2p_pgmap_dmabuf_unmapped);
	while (!wait_for_completion_timeout(&d->unmapped, P2P_PGMAP_UNMAP_REPORT))
		dev_warn(&d->pdm->dev, "remove waits for importers of a dma-buf of %s[%d] to unmap it\n",
			 d->comm, d->tgid);
}

/**
 * p2p_pgmap_dmabuf_revoke_all - at remove: revoke every export
 * @pdm: the device, dying
 *
 * Every export is marked revoked and its importers told to stop, first,
 * then each one's fences and mappings are waited for and its memory let
 * go of: the importers of all exports stop at once, not one after the
 * other. A dma-buf a process keeps stays a husk whose attaches and maps
 * fail with -ENODEV; closing it later is all that is left to do.
 *
 * Context: process context; takes the dmabufs_lock and each dma-buf's
 * reservation lock.
 */
void p2p_pgmap_dmabuf_revoke_all(struct p2p_pgmap_dev *pdm)
{
	struct p2p_pgmap_dmabuf *d;

	mutex_lock(&pdm->dmabufs_lock);
	/*
	 * A dma-buf being released waits on dmabufs_lock in ->release(), with
	 * its reservation object intact: it has no attachment left, so
	 * revoking it is harmless.
	 */
	list_for_each_entry(d, &pdm->dmabufs, node) {
		dma_resv_lock(d->dmabuf->resv, NULL);
		WRITE_ONCE(d->revoked, true);
		p2p_compat_dma_buf_invalidate(d->dmabuf);
		dma_resv_unlock(d->dmabuf->resv);
	}
	list_for_each_entry(d, &pdm->dmabufs, node) {
		dma_resv_wait_timeout(d->dmabuf->resv, DMA_RESV_USAGE_BOOKKEEP,
				      false, MAX_SCHEDULE_TIMEOUT);
		p2p_pgmap_dmabuf_wait_unmapped(d);
		p2p_pgmap_dmabuf_let_go(d);
	}
	mutex_unlock(&pdm->dmabufs_lock);
}
