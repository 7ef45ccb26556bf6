## ছবির কাজ: গ্রহণ, তৈরি, ফলাফল, সমস্যা

photo-received = 📥 আপনার ছবি পেয়েছি! লাইনে আপনি { $position } নম্বরে আছেন; একটু পরেই স্টুডিওর মতো ছবিগুলো এখানে চলে আসবে।
photo-received-album = 📥 আপনার ছবিগুলো পেয়েছি! লাইনে আপনি { $position } নম্বরে আছেন; প্রতিটা ছবি তৈরি হলেই এখানে পাঠিয়ে দেব।
photo-restyling = 🎨 আপনার ছবির আরেকটা সংস্করণ বানাচ্ছি…
photo-rendering = 🎨 আপনার ছবির কাজ চলছে…
photo-done = ✅ আপনার স্টুডিও ছবি তৈরি ({ $style }, { $size })। ফাইল হিসেবে পাঠালাম, তাই চ্যাট অ্যাপ এগুলো ছোট বা কমপ্রেস করবে না। বাকি ক্রেডিট: { $balance }টি।
photo-hard-tip = 💡 এই পণ্যটা ব্যাকগ্রাউন্ড থেকে আলাদা করা কঠিন ছিল। আরও পরিষ্কার ফল পেতে সাদামাটা জায়গায়, চারপাশে একটু ফাঁকা রেখে ছবি তুলুন।
photo-more-options = অন্য ব্যাকগ্রাউন্ড আর মাপ (এক দিন পর্যন্ত ফ্রি):
photo-as-photo = ছবি হিসেবে পাঠান
photo-refunded = আপনার ক্রেডিট ফেরত দেওয়া হয়েছে।
photo-failed-unreadable = ফাইলটা ছবি হিসেবে খুলতে পারিনি। JPEG, PNG, WebP বা HEIC ছবি পাঠান।
photo-failed-too-large = ছবিটায় অনেক বেশি পিক্সেল (৪০ মেগাপিক্সেলের বেশি)। একটু ছোট ছবি পাঠান।
photo-failed-too-small = ছবিটা খুব ছোট। অন্তত ৬৪ পিক্সেল চওড়া আর উঁচু ছবি পাঠান।
photo-failed-no-product = এই ছবিতে কোনো পণ্য খুঁজে পাইনি। পরামর্শ: পণ্যটা মাঝখানে রাখুন, সাদামাটা জায়গায়, চারপাশে একটু ফাঁকা রেখে।
photo-failed-download = আপনার ছবিটা ডাউনলোড করতে পারিনি। আরেকবার পাঠান।
photo-failed-other = দুঃখিত, এই ছবিটা তৈরি করা গেল না।
photo-not-image = এই ফাইলটা ছবি নয়। JPEG, PNG, WebP বা HEIC ছবি পাঠান।
photo-file-too-big = ফাইলটা { $limit } মেগাবাইটের বেশি। একটু ছোট ছবি পাঠান।
photo-busy = এই মুহূর্তে অনেক চাপ চলছে। এক মিনিট পরে ছবিটা আবার পাঠান; আপনার কোনো ক্রেডিট কাটা হয়নি।

history-empty = এখনও কোনো ছবি তৈরি হয়নি। প্রথম স্টুডিও ছবি পেতে আপনার পণ্যের একটা ছবি পাঠান।
history-title = আপনার সাম্প্রতিক ছবি:
history-item = { $number }. { $date }: { $style }, { $size }
history-again = { $number } নম্বর আবার নিন
history-gone = এই ছবিগুলো আর রাখা নেই। ছবিটা আবার পাঠান।

style-name = { $style ->
        [white] সাদা
        [transparent] স্বচ্ছ
        [studio] স্টুডিও
        [gradient] গ্রেডিয়েন্ট
        [color-cream] ক্রিম
        [color-sky] আকাশি
        [color-blush] হালকা গোলাপি
        [color-mint] মিন্ট
        [color-sand] বালু রং
        [color-charcoal] কয়লা কালো
       *[other] নিজের রং
    }
size-name = { $size ->
        [square] বর্গ ১:১
        [portrait] পোর্ট্রেট ৪:৫
        [story] স্টোরি ৯:১৬
        [marketplace] মার্কেটপ্লেস
       *[original] আসল মাপ
    }
style-current = এখন আপনার ছবি তৈরি হয়: { $style }, { $size }।
style-choose-background = ব্যাকগ্রাউন্ড বেছে নিন:
style-choose-size = মাপ বেছে নিন:
style-saved = সেভ হয়েছে। এরপরের ছবিগুলো তৈরি হবে: { $style }, { $size }।
