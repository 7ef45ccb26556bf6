## The photo flow: receiving, rendering, results, failures

photo-received = 📥 Got your photo! You are #{ $position } in line; your studio images will arrive here in a moment.
photo-received-album = 📥 Got your photos! You are #{ $position } in line; each photo's studio images will arrive here as soon as it is ready.
photo-restyling = 🎨 Making another version of your photo…
photo-rendering = 🎨 Working on your photo now…
photo-done = ✅ Your studio images are ready ({ $style }, { $size }). They come as files, so the chat app does not shrink or recompress them. Credits left: { $balance }.
photo-hard-tip = 💡 This product was hard to separate from its background. For a cleaner result, photograph it on a plain surface with some space around it.
photo-hard-tip-too-small = 💡 The product is very small in this photo, so its edges were hard to find. Move closer, so that the product fills most of the frame.
photo-hard-tip-too-large = 💡 The product fills almost the whole photo, so there was little background to tell it from. Step back a little, so that some plain background shows all around it.
photo-hard-tip-cut-off = 💡 The product runs off the edge of the photo, so part of it may be missing. Show the whole product, with some space around it on every side.
photo-hard-tip-low-contrast = 💡 The product's edges were hard to tell from the background. Use a plain background that contrasts with it: a dark product on a light surface, a light product on a dark one.
photo-more-options = Other backgrounds and sizes (free for a day):
photo-as-photo = Send as photo
photo-refunded = Your credit has been returned.
photo-failed-unreadable = I could not open this file as a photo. Please send a JPEG, PNG, WebP or HEIC photo.
photo-failed-too-large = This photo has too many pixels for me (over 40 megapixels). Please send a smaller photo.
photo-failed-too-small = This photo is too small. Please send a photo at least 64 pixels wide and high.
photo-failed-no-product = I could not find a product in this photo. Tip: put the product in the middle, on a plain surface, with some space around it.
photo-failed-download = I could not download your photo. Please send it again.
photo-failed-other = Sorry, this photo could not be made.
photo-undelivered = I could not send your studio images here. They are saved: type /history to get them.
photo-not-image = This file is not a photo. Please send a JPEG, PNG, WebP or HEIC image.
photo-file-too-big = This file is over { $limit } MB. Please send a smaller photo.
photo-too-many-pending = You already have { $limit } photos waiting to be made. Please wait until some of them arrive, then send this photo again; you have not been charged for it.
photo-busy = We are very busy right now. Please send your photo again in a minute; you have not been charged.

history-empty = You have no finished photos yet. Send a photo of your product to make your first studio images.
history-title = Your recent photos:
history-item = { $number }. { $date }: { $style }, { $size }
history-again = Get #{ $number } again
history-gone = These images are no longer stored. Please send the photo again.

style-name = { $style ->
        [white] White
        [transparent] Transparent
        [studio] Studio
        [gradient] Gradient
        [color-cream] Cream
        [color-sky] Sky blue
        [color-blush] Blush pink
        [color-mint] Mint
        [color-sand] Sand
        [color-charcoal] Charcoal
       *[other] Custom colour
    }
size-name = { $size ->
        [square] Square 1:1
        [portrait] Portrait 4:5
        [story] Story 9:16
        [marketplace] Marketplace
       *[original] Original shape
    }
style-current = Your photos are made with: { $style }, { $size }.
style-choose-background = Choose a background:
style-choose-size = Choose a size:
style-saved = Saved. Your next photos will be made with: { $style }, { $size }.

photo-album-short =
    You sent more photos than your credits cover. { $made ->
        [0] None of them can be made now.
        [one] The first photo will be made; the others were not charged.
       *[other] The first { $made } photos will be made; the others were not charged.
    }
    Get free codes on our Facebook page: { $page }
    Or buy a pack: { $upgrade }
    Then send the other photos again.

photo-too-many = I can take { $limit } photos in one message: I took the first { $limit }. Please send the other { $left } in another message.

## "Not right?" under a result: its credit back, once per photo, a few times a day
not-right-button = Not right?
not-right-refunded = Sorry this one is not right. { $credits ->
        [one] { $credits } credit is
       *[other] { $credits } credits are
    } back on your balance: you have { $balance } now. Returns left today: { $left }.
not-right-already = The credit for this photo was already returned.
not-right-limit = You have used today's { $limit } returns for results that were not right. You can return more tomorrow.
not-right-free = This result cost no credit, so there is nothing to return.
not-right-tip = 💡 For another try, send the photo again with the whole product in the frame and some space around it, on a plain background that contrasts with it (a dark product on a light surface, a light product on a dark one), in good light.
photo-hard-not-charged = Because of that, this photo was free: your credit was not used.
